"""A Celery worker killed in the middle of a batch: another worker finishes it, and the end
state equals an uninterrupted run. Real worker processes, real Redis, real PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from population.sync import services
from population.sync.models import Batch, BatchStatus, Fact, FollowUp, RejectedRow
from population.sync.samples import sample_feed, sample_persons
from population.sync.tasks import batch_process_task
from tests import dburl
from tests.dburl import subprocess_database_url
from tests.population.sync_helpers import make_people

ROOT = Path(__file__).resolve().parents[2]
VISIBILITY_TIMEOUT = 3  # seconds; the workers of this test only


def start_worker(queue: str, *, pause: float, log: Path) -> subprocess.Popen:
    """A separate `celery worker --pool solo` process on the test database and a unique queue."""
    env = {
        **os.environ,
        "DATABASE_URL": subprocess_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "SYNC_CHUNK_ROWS": "20",
        "SYNC_CHUNK_PAUSE_SECONDS": str(pause),
        "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
    }
    return subprocess.Popen(  # noqa: S603 - fixed arguments
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            "-Q",
            queue,
            "-n",
            f"{queue}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "info",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def batch_row(pk: int) -> Batch:
    return Batch.objects.defer("content").get(pk=pk)


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def end_state(batch_id: int) -> dict:
    """Everything a run leaves behind, without surrogate keys or times."""
    b = batch_row(batch_id)
    return {
        "batch": (b.status, b.received, b.applied, b.unchanged, b.rejected, b.last_line),
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
        "rejected": sorted(
            RejectedRow.objects.filter(batch_id=batch_id).values_list("line_no", "reason_code")
        ),
    }


def wipe_sync_tables() -> None:
    # The history tables refuse TRUNCATE (population.audit.truncate_guard_install) and the
    # runtime role may not TRUNCATE at all; this reset between the two runs passes the guard
    # as the superuser, for its own transaction, as the test flush does (tests/dburl.py).
    dburl.privileged_execute(
        [
            "SET LOCAL session_replication_role = replica",
            "TRUNCATE population_followupevent, population_followup, population_factevent,"
            " population_fact, population_rejectedrow, population_batch",
        ]
    )


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_batch_is_replaced_and_the_end_state_equals_an_uninterrupted_run(
    make_person, tmp_path
):
    make_people(make_person, 30)
    faults = {"bad_check_digit": 3, "unknown_id": 3, "duplicate": 3, "malformed_date": 3}
    feed = sample_feed(kind="death", persons=sample_persons(), rows=240, seed=11, faults=faults)
    log = tmp_path / "workers.log"
    queue = f"test-kill-{uuid.uuid4().hex}"

    # Interrupted run: the first worker dies (SIGKILL) after some chunks were committed.
    batch = services.batch_receive(
        department="health",
        content=feed.content,
        filename="death_kill.csv",
        fmt="csv",
        source="api",
        enqueue=False,
    )
    first = start_worker(queue, pause=0.4, log=log)
    second = None
    try:
        batch_process_task.apply_async(args=[batch.pk], queue=queue)
        at_kill = wait_for(
            lambda: (b := batch_row(batch.pk)).committed_line >= 60 and b, 90, "first chunks"
        )
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL
        killed_at = batch_row(batch.pk)
        assert 0 < killed_at.committed_line < killed_at.last_line
        assert killed_at.status == BatchStatus.PROCESSING
        # Redis hands the unacknowledged task out again once the visibility timeout has passed.
        time.sleep(VISIBILITY_TIMEOUT + 1)
        second = start_worker(queue, pause=0, log=log)
        done = wait_for(
            lambda: (b := batch_row(batch.pk)).status == BatchStatus.DONE and b, 90, "the rerun"
        )
    finally:
        stop(first)
        if second is not None:
            stop(second)
    assert at_kill.applied > 0
    assert done.attempts == 2  # the killed attempt and the one that finished
    interrupted = end_state(batch.pk)

    # Uninterrupted run of the same file on empty sync tables.
    wipe_sync_tables()
    batch = services.batch_receive(
        department="health",
        content=feed.content,
        filename="death_kill.csv",
        fmt="csv",
        source="api",
        enqueue=False,
    )
    worker = start_worker(queue, pause=0, log=log)
    try:
        batch_process_task.apply_async(args=[batch.pk], queue=queue).get(timeout=90)
    finally:
        stop(worker)
    assert batch_row(batch.pk).attempts == 1
    uninterrupted = end_state(batch.pk)

    assert interrupted == uninterrupted
    assert interrupted["batch"] == ("done", 240, 228, 0, 12, 241)
    assert len(interrupted["history"]) == len(interrupted["followups"]) == 228
