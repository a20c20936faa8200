"""Helpers of the crash tests of the department sync: subprocesses in their own process group,
the end state a run leaves, and the reset between an interrupted and a clean run."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
from django.db import connection

from population.sync.models import Batch, Fact, FollowUp, RejectedRow
from tests import dburl

ROOT = Path(__file__).resolve().parents[2]


def spawn(args: list[str], *, env: dict, log: Path) -> subprocess.Popen:
    """A process (and the children it forks) in a process group of its own."""
    return subprocess.Popen(  # noqa: S603 - fixed arguments
        args,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def group_members(proc: subprocess.Popen) -> list[psutil.Process]:
    """The process and its descendants (a prefork worker: the parent and its pool)."""
    parent = psutil.Process(proc.pid)
    return [parent, *parent.children(recursive=True)]


def kill_group(proc: subprocess.Popen) -> list[int]:
    """``kill -9`` of the whole process group; returns the pids that were in it."""
    members = group_members(proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    _, alive = psutil.wait_procs(members, timeout=10)
    assert not alive, f"still alive after SIGKILL: {alive}"
    return [p.pid for p in members]


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_for(predicate, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def batch_row(pk: int) -> Batch:
    return Batch.objects.defer("content").get(pk=pk)


def end_state(batch_id: int) -> dict:
    """Everything a run leaves behind, without surrogate keys or times."""
    b = batch_row(batch_id)
    return {
        "batch": (b.status, b.received, b.applied, b.unchanged, b.rejected, b.last_line),
        "lease": (b.lease_owner, b.lease_expires_at),
        "facts": sorted(
            Fact.objects.values_list(
                "kind",
                "record_no",
                "person__citizen_id",
                "reported_name",
                "org",
                "event_date",
                "counterpart_citizen_id",
                "detail",
            )
        ),
        "history": sorted(
            Fact.pgh_event_model.objects.values_list("pgh_label", "record_no", "event_date")
        ),
        "followups": sorted(
            FollowUp.objects.values_list("kind", "status", "person__citizen_id", "fact__record_no")
        ),
        "followup_history": FollowUp.pgh_event_model.objects.count(),
        "rejected": sorted(
            RejectedRow.objects.filter(batch_id=batch_id).values_list(
                "line_no", "reason_code", "raw"
            )
        ),
        "stage_table_left": _stage_table_exists(batch_id),
    }


def _stage_table_exists(batch_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f"sync_stage_{int(batch_id)}"])
        return cursor.fetchone()[0]


def wipe_sync_tables() -> None:
    # The history tables refuse TRUNCATE (population.audit.truncate_guard_install) and the
    # runtime role may not TRUNCATE at all; this reset between the two runs passes the guard
    # as the superuser, for its own transaction, as the test flush does (tests/dburl.py).
    dburl.privileged_execute(
        [
            "SET LOCAL session_replication_role = replica",
            "TRUNCATE population_followupevent, population_followup, population_factevent,"
            " population_fact, population_rejectedrow, population_batchevent,"
            " population_batchhistory, population_batch",
        ]
    )
