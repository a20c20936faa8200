"""`manage.py ingest_feed` killed (``kill -9``) in the middle of a batch: the same command run
again takes the batch over (at once: the lease's holder was a process of this host that is
gone), resumes after the last committed chunk, and leaves the state of an uninterrupted run. A
batch held by a live process elsewhere is waited for, or refused with ``--no-wait``. Real
processes and PostgreSQL."""

from __future__ import annotations

import sys

import pytest
from django.db import connection

from population.sync import leases, services
from population.sync.models import Batch, BatchEvent, BatchEventKind, BatchStatus
from population.sync.samples import sample_feed, sample_persons
from tests.dburl import subprocess_database_url
from tests.integration.sync_runs import (
    batch_row,
    end_state,
    kill_group,
    spawn,
    stop,
    wait_for,
    wipe_sync_tables,
)
from tests.sync.helpers import make_people


def ingest(path, log, *, pause: float):
    return spawn(
        [sys.executable, "manage.py", "ingest_feed", str(path), "--department", "health"],
        env={
            "DATABASE_URL": subprocess_database_url(),
            "SYNC_CHUNK_ROWS": "20",
            "SYNC_CHUNK_PAUSE_SECONDS": str(pause),
        },
        log=log,
    )


@pytest.mark.django_db(transaction=True)
def test_ingest_feed_killed_mid_batch_is_resumed_by_the_same_command(make_person, tmp_path):
    make_people(make_person, 30)
    faults = {"bad_check_digit": 3, "unknown_id": 3, "duplicate": 3, "malformed_date": 3}
    feed = sample_feed(kind="death", persons=sample_persons(), rows=240, seed=12, faults=faults)
    path = tmp_path / "death_2025.csv"
    path.write_bytes(feed.content)
    log = tmp_path / "ingest.log"

    first = ingest(path, log, pause=0.4)
    try:
        wait_for(lambda: Batch.objects.filter(committed_line__gte=60).exists(), 120, "chunks", log)
        kill_group(first)
    finally:
        stop(first)
    stuck = Batch.objects.defer("content").get()
    assert stuck.status == BatchStatus.PROCESSING
    assert 0 < stuck.committed_line < stuck.last_line
    assert stuck.lease_owner

    rerun = ingest(path, log, pause=0)
    try:
        assert rerun.wait(timeout=120) == 0, log.read_text(errors="replace")[-3000:]
    finally:
        stop(rerun)
    output = log.read_text(errors="replace")
    assert f"batch #{stuck.pk} done: received 240, applied 228, unchanged 0, rejected 12" in (
        output
    )
    # Taken over at once, not after the 60 s lease: its holder's process is gone.
    assert "batch held elsewhere" not in output
    resumed = batch_row(stuck.pk)
    assert resumed.attempts == 2
    claims = BatchEvent.objects.filter(batch=resumed, kind=BatchEventKind.CLAIMED)
    assert list(claims.values_list("previous_worker", flat=True)) == ["", stuck.lease_owner]
    interrupted = end_state(stuck.pk)

    wipe_sync_tables()
    clean = ingest(path, log, pause=0)
    try:
        assert clean.wait(timeout=120) == 0
    finally:
        stop(clean)
    batch = Batch.objects.defer("content").get()
    assert batch.attempts == 1
    assert end_state(batch.pk) == interrupted
    assert interrupted["batch"] == ("done", 240, 228, 0, 12, 241)
    assert len(interrupted["history"]) == len(interrupted["followups"]) == 228


@pytest.mark.django_db(transaction=True)
def test_ingest_feed_waits_for_a_live_lease_to_lapse_or_with_no_wait_refuses(make_person, tmp_path):
    make_people(make_person, 30)
    feed = sample_feed(kind="death", persons=sample_persons(), rows=20, seed=13)
    path = tmp_path / "death_2026.csv"
    path.write_bytes(feed.content)
    log = tmp_path / "ingest.log"
    batch = services.batch_receive(
        department="health", content=feed.content, filename=path.name, fmt="csv",
        source="command", enqueue=False,
    )  # fmt: skip
    leases.lease_claim(batch_id=batch.pk, owner="worker-host:4242:abc")

    refused = spawn(
        [sys.executable, "manage.py", "ingest_feed", str(path), "--department", "health",
         "--no-wait"],
        env={"DATABASE_URL": subprocess_database_url()},
        log=log,
    )  # fmt: skip
    assert refused.wait(timeout=60) == 1
    assert f"batch {batch.pk} is being processed elsewhere (worker-host:4242:abc)" in (
        log.read_text()
    )
    b = batch_row(batch.pk)
    assert (b.status, b.attempts, b.lease_owner) == ("received", 0, "worker-host:4242:abc")

    # Without --no-wait it waits, says so, and takes over once the (unrenewed) lease lapses.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE population_batch SET lease_expires_at = clock_timestamp()"
            " + interval '15 seconds' WHERE id = %s",
            [batch.pk],
        )
    waited = spawn(
        [sys.executable, "manage.py", "ingest_feed", str(path), "--department", "health"],
        env={"DATABASE_URL": subprocess_database_url()},
        log=log,
    )
    assert waited.wait(timeout=120) == 0
    output = log.read_text()
    assert "batch held elsewhere: waiting for it to finish or for its lease to lapse" in output
    assert f"batch #{batch.pk} done: received 20, applied 20" in output
    claims = BatchEvent.objects.filter(batch=batch, kind=BatchEventKind.CLAIMED)
    assert list(claims.values_list("previous_worker", flat=True)) == [
        "",
        "worker-host:4242:abc",
    ]
