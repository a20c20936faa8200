"""A whole Celery worker (the prefork parent and its pool child) killed with ``kill -9`` in the
middle of a batch: its lease lapses, the beat's lease sweep dispatches the batch again, a new
worker finishes it within two minutes, and the end state equals an uninterrupted run.

Real processes throughout: `celery worker --pool prefork`, `celery beat` (the database
scheduler with the project's schedule), `celery call`, Redis and PostgreSQL. The lease and the
sweep keep their production defaults (60 s and 30 s), and Redis keeps its 6 h visibility
timeout, so nothing but the lease can bring the batch back in time. Every Redis key of the run
carries a prefix of its own (CELERY_REDIS_KEY_PREFIX): parallel runs never take each other's
tasks, and the keys are removed at the end.
"""

from __future__ import annotations

import sys
import time
import uuid

import pytest
import redis
from django.conf import settings

from population.sync import services
from population.sync.models import BatchEvent, BatchEventKind, BatchStatus
from population.sync.samples import sample_feed, sample_persons
from tests.dburl import subprocess_database_url
from tests.integration.sync_runs import (
    batch_row,
    end_state,
    group_members,
    kill_group,
    spawn,
    stop,
    wait_for,
    wipe_sync_tables,
)
from tests.sync.helpers import make_people

TAKEOVER_LIMIT = 120  # seconds from the kill to the batch finished by another worker


@pytest.fixture
def celery_env(tmp_path):
    prefix = f"test-lease-{uuid.uuid4().hex[:12]}:"
    env = {
        "DATABASE_URL": subprocess_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_REDIS_KEY_PREFIX": prefix,
        "SYNC_CHUNK_ROWS": "20",
    }
    yield env
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


def worker(env: dict, log, *, pause: float, name: str):
    return spawn(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork",
         "--concurrency", "1", "-Q", "ingest", "-n", f"{name}@%h", "--without-gossip",
         "--without-mingle", "-l", "info"],
        env={**env, "SYNC_CHUNK_PAUSE_SECONDS": str(pause)},
        log=log,
    )  # fmt: skip


def beat(env: dict, log, tmp_path):
    return spawn(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "info",
         "--pidfile", str(tmp_path / "beat.pid")],
        env=env,
        log=log,
    )  # fmt: skip


def dispatch(env: dict, batch_id: int, log) -> None:
    """Send the task as any client would (`celery call`), under this run's key prefix."""
    call = spawn(
        [sys.executable, "-m", "celery", "-A", "config", "call",
         "population.sync.batch_process", "--args", f"[{batch_id}]"],
        env=env,
        log=log,
    )  # fmt: skip
    assert call.wait(timeout=60) == 0


def receive(feed):
    return services.batch_receive(
        department="health", content=feed.content, filename="death_kill.csv", fmt="csv",
        source="api", enqueue=False,
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_whole_worker_killed_mid_batch_is_replaced_within_two_minutes_with_a_clean_end_state(
    make_person, tmp_path, celery_env
):
    make_people(make_person, 30)
    faults = {"bad_check_digit": 3, "unknown_id": 3, "duplicate": 3, "malformed_date": 3}
    feed = sample_feed(kind="death", persons=sample_persons(), rows=240, seed=11, faults=faults)
    log = tmp_path / "celery.log"

    batch = receive(feed)
    first = spawn_beat = second = None
    try:
        spawn_beat = beat(celery_env, log, tmp_path)
        first = worker(celery_env, log, pause=0.4, name="first")
        dispatch(celery_env, batch.pk, log)
        at_kill = wait_for(
            lambda: (b := batch_row(batch.pk)).committed_line >= 60 and b, 120, "chunks", log
        )
        members = group_members(first)
        assert len(members) >= 2, "a prefork worker is a parent and its pool child"
        killed = kill_group(first)
        killed_at = time.monotonic()
        stuck = batch_row(batch.pk)
        assert stuck.status == BatchStatus.PROCESSING
        assert 0 < stuck.committed_line < stuck.last_line
        assert stuck.lease_owner.split(":")[1] in {str(p) for p in killed}

        second = worker(celery_env, log, pause=0, name="second")
        done = wait_for(
            lambda: (b := batch_row(batch.pk)).status == BatchStatus.DONE and b,
            TAKEOVER_LIMIT,
            "another worker to finish the batch",
            log,
        )
        took = time.monotonic() - killed_at
    finally:
        for proc in (first, second, spawn_beat):
            stop(proc)
    assert took < TAKEOVER_LIMIT
    assert at_kill.applied > 0
    assert done.attempts == 2  # the killed attempt and the one that finished
    events = list(
        BatchEvent.objects.filter(batch_id=batch.pk).values_list("kind", "previous_worker")
    )
    assert events == [
        (BatchEventKind.CLAIMED, ""),
        (BatchEventKind.LEASE_LAPSED, stuck.lease_owner),
        (BatchEventKind.CLAIMED, ""),
    ]
    interrupted = end_state(batch.pk)

    # Uninterrupted run of the same file on empty sync tables.
    wipe_sync_tables()
    batch = receive(feed)
    clean = worker(celery_env, log, pause=0, name="clean")
    try:
        dispatch(celery_env, batch.pk, log)
        wait_for(lambda: batch_row(batch.pk).status == BatchStatus.DONE, 120, "clean run", log)
    finally:
        stop(clean)
    assert batch_row(batch.pk).attempts == 1
    uninterrupted = end_state(batch.pk)

    assert interrupted == uninterrupted
    assert interrupted["batch"] == ("done", 240, 228, 0, 12, 241)
    assert interrupted["lease"] == ("", None)
    assert not interrupted["stage_table_left"]
    assert len(interrupted["history"]) == len(interrupted["followups"]) == 228
    print(f"\nkill -9 of {len(killed)} processes; batch finished {took:.1f} s after the kill")


@pytest.mark.django_db(transaction=True)
def test_a_killed_pool_child_is_replaced_by_its_parent_at_once(make_person, tmp_path, celery_env):
    """Only the child dies: the parent hands the task to a new child, which finds the lease's
    holder gone from this host and takes over without waiting for the lease to lapse."""
    make_people(make_person, 30)
    feed = sample_feed(kind="death", persons=sample_persons(), rows=240, seed=14)
    log = tmp_path / "celery.log"
    batch = receive(feed)
    parent = worker(celery_env, log, pause=0.4, name="parent")
    try:
        dispatch(celery_env, batch.pk, log)
        wait_for(lambda: batch_row(batch.pk).committed_line >= 60, 120, "chunks", log)
        children = group_members(parent)[1:]
        holder = batch_row(batch.pk).lease_owner
        (child,) = [c for c in children if str(c.pid) == holder.split(":")[1]]
        child.kill()
        killed_at = time.monotonic()
        done = wait_for(
            lambda: (b := batch_row(batch.pk)).status == BatchStatus.DONE and b,
            60,
            "the new child to finish the batch",
            log,
        )
        took = time.monotonic() - killed_at
        assert parent.poll() is None  # the parent lived on
    finally:
        stop(parent)
    # Well inside a lease (60 s): no lapse, no sweep was needed.
    assert took < 45
    events = list(
        BatchEvent.objects.filter(batch_id=batch.pk).values_list("kind", "previous_worker")
    )
    assert events == [(BatchEventKind.CLAIMED, ""), (BatchEventKind.CLAIMED, holder)]
    assert (done.attempts, done.received, done.applied) == (2, 240, 240)


@pytest.mark.django_db(transaction=True)
def test_a_worker_rejects_hostile_rows_one_by_one_and_applies_the_rest_at_the_first_try(
    make_person, tmp_path, celery_env
):
    """A NUL byte, a 200 KB field and an unclosed quote once crashed the task five times and
    quarantined the batch with none of its good rows applied; through a real worker each is a
    rejected row with its line and reason, in one attempt."""
    people = make_people(make_person, 8)
    header = "record_no,citizen_id,name,employer,employer_credit_code,start_date,end_date"
    lines = [header]
    for i, person in enumerate(people):
        employer = {2: "某\x00公司", 4: "公" * 70_000, 6: '"某公司'}.get(i, "某公司")
        lines.append(
            f"E{i},{person.citizen_id},{person.name},{employer},91440700MA00000000,2024-01-01,"
        )
    batch = services.batch_receive(
        department="hrss", content=("\n".join(lines) + "\n").encode(),
        filename="employment_hostile.csv", fmt="csv", source="api", enqueue=False,
    )  # fmt: skip
    log = tmp_path / "celery.log"
    proc = worker(celery_env, log, pause=0, name="hostile")
    try:
        dispatch(celery_env, batch.pk, log)
        done = wait_for(
            lambda: (b := batch_row(batch.pk)).status == BatchStatus.DONE and b, 120, "done", log
        )
    finally:
        stop(proc)
    assert (done.attempts, done.received, done.applied, done.rejected) == (1, 8, 5, 3)
    state = end_state(batch.pk)
    assert [(line, code) for line, code, *_ in state["rejected"]] == [
        (4, "invalid_character"), (6, "line_too_long"), (8, "unclosed_quote"),
    ]  # fmt: skip
    assert sorted(fact[1] for fact in state["facts"]) == ["E0", "E1", "E3", "E5", "E7"]
