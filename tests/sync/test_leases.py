"""Leases on feed batches: one claim wins, a lapsed lease is taken over, a process that lost
its lease commits nothing more, the sweep re-dispatches, an officer requeues with a reason."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import psycopg
import pytest
from django.db import connection

from config.celery import app as celery_app
from population.errors import Conflict, DomainError
from population.sync import leases, services
from population.sync.models import (
    Batch,
    BatchEvent,
    BatchEventKind,
    BatchStatus,
    Fact,
    FollowUp,
    RejectedRow,
)
from population.sync.samples import sample_feed, sample_persons
from population.sync.tasks import batch_process_task
from tests.dburl import both_layers_refuse, subprocess_database_url
from tests.sync.helpers import make_people

FAULTS = {"unknown_id": 2, "duplicate": 2}


@pytest.fixture
def feed(make_person):
    make_people(make_person)
    return sample_feed(kind="death", persons=sample_persons(), rows=60, seed=8, faults=FAULTS)


def receive(feed) -> Batch:
    return services.batch_receive(
        department="health", content=feed.content, filename="death_lease.csv", fmt="csv",
        source="api", enqueue=False,
    )  # fmt: skip


def lapse(batch_id: int, owner: str = "dead-host:1:abc") -> None:
    """The state a killed worker leaves: its lease, expired a moment ago."""
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE population_batch SET lease_owner = %s,
                   lease_expires_at = clock_timestamp() - interval '1 second'
               WHERE id = %s""",
            [owner, batch_id],
        )


def end_state(batch_id: int) -> dict:
    b = Batch.objects.defer("content").get(pk=batch_id)
    return {
        "batch": (b.status, b.received, b.applied, b.unchanged, b.rejected, b.last_line),
        "facts": sorted(Fact.objects.values_list("record_no", "person_id", "event_date")),
        "history": sorted(Fact.pgh_event_model.objects.values_list("pgh_label", "record_no")),
        "followups": sorted(FollowUp.objects.values_list("kind", "fact__record_no")),
        "rejected": sorted(RejectedRow.objects.values_list("line_no", "reason_code")),
    }


@pytest.mark.django_db
def test_a_claim_is_refused_while_the_lease_lives_and_granted_once_it_lapsed(make_person, feed):
    batch = receive(feed)

    first = leases.lease_claim(batch_id=batch.pk, owner="a:1:x")
    again = leases.lease_claim(batch_id=batch.pk, owner="b:2:y")
    assert first is not None and first.previous_owner == ""
    assert again is None
    assert Batch.objects.get(pk=batch.pk).lease_owner == "a:1:x"

    lapse(batch.pk, owner="a:1:x")
    taken = leases.lease_claim(batch_id=batch.pk, owner="b:2:y")
    assert taken is not None and taken.previous_owner == "a:1:x"
    claims = BatchEvent.objects.filter(batch=batch, kind=BatchEventKind.CLAIMED)
    assert list(claims.values_list("worker", "previous_worker")) == [
        ("a:1:x", ""),
        ("b:2:y", "a:1:x"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("status", [BatchStatus.DONE, BatchStatus.QUARANTINED])
def test_a_finished_batch_is_never_claimed(make_person, feed, status):
    batch = receive(feed)
    Batch.objects.filter(pk=batch.pk).update(status=status)
    assert leases.lease_claim(batch_id=batch.pk, owner="a:1:x") is None
    assert services.batch_process(batch_id=batch.pk).status == status
    assert not BatchEvent.objects.exists()


@pytest.mark.django_db
def test_a_batch_held_by_a_live_lease_is_busy_for_the_service_and_the_task(make_person, feed):
    batch = receive(feed)
    leases.lease_claim(batch_id=batch.pk, owner="alive:1:x")
    with pytest.raises(services.BatchBusy):
        services.batch_process(batch_id=batch.pk)
    assert batch_process_task.apply(args=[batch.pk]).get() == "busy"
    b = Batch.objects.get(pk=batch.pk)
    assert (b.status, b.attempts, b.lease_owner) == (BatchStatus.RECEIVED, 0, "alive:1:x")


@pytest.mark.django_db
def test_a_run_that_lost_its_lease_commits_nothing_more_and_the_taker_finishes_the_batch(
    make_person, feed, settings
):
    settings.SYNC_CHUNK_ROWS = 10
    batch = receive(feed)
    seen = []

    def taken_over_after_the_second_chunk(b):
        seen.append(b.committed_line)
        if b.committed_line == 20:
            # Another worker took the batch over (the first looked dead to the sweep).
            lapse(b.pk, owner=Batch.objects.get(pk=b.pk).lease_owner)
            leases.leases_sweep()
            assert leases.lease_claim(batch_id=b.pk, owner="taker:2:y") is not None

    with pytest.raises(services.LeaseLost):
        services.batch_process(batch_id=batch.pk, progress=taken_over_after_the_second_chunk)

    # Fenced: the third chunk was refused inside its own transaction.
    stopped = Batch.objects.get(pk=batch.pk)
    assert seen == [0, 10, 20]
    assert (stopped.committed_line, stopped.lease_owner) == (20, "taker:2:y")
    lost = BatchEvent.objects.get(batch=batch, kind=BatchEventKind.LEASE_LOST)
    assert (lost.previous_worker, lost.committed_line) == ("taker:2:y", 20)

    finished = services.batch_process(batch_id=batch.pk, owner="taker:2:y")
    assert (finished.status, finished.attempts, finished.lease_owner) == ("done", 2, "")
    interrupted = end_state(batch.pk)

    assert interrupted["batch"] == ("done", 60, 56, 0, 4, 61)
    assert len(interrupted["history"]) == len(interrupted["followups"]) == 56


@pytest.mark.django_db
def test_the_sweep_dispatches_only_unfinished_batches_whose_lease_lapsed(
    make_person, settings, monkeypatch
):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    make_people(make_person)
    persons = sample_persons()
    batches = {}
    for name, seed in [("lapsed", 1), ("alive", 2), ("unleased", 3), ("done", 4), ("retry", 5)]:
        feed = sample_feed(kind="death", persons=persons, rows=8, seed=seed)
        batches[name] = services.batch_receive(
            department="health", content=feed.content, filename=f"death_{name}.csv",
            fmt="csv", source="api", enqueue=False,
        )  # fmt: skip
    lapse(batches["lapsed"].pk, owner="dead:1:x")
    leases.lease_claim(batch_id=batches["alive"].pk, owner="alive:2:y")
    lapse(batches["done"].pk)
    Batch.objects.filter(pk=batches["done"].pk).update(status=BatchStatus.DONE)
    # A retry whose worker died while holding it: its deadline passed unclaimed.
    services.batch_record_failure(
        batch_id=batches["retry"].pk, error="OperationalError", final=False, retry_in=-120
    )

    swept = leases.leases_sweep()

    assert sorted(swept) == sorted([batches["lapsed"].pk, batches["retry"].pk])
    after = {n: Batch.objects.get(pk=b.pk) for n, b in batches.items()}
    assert (after["alive"].lease_owner, after["alive"].status) == ("alive:2:y", "received")
    assert after["unleased"].lease_expires_at is None
    lapsed = BatchEvent.objects.filter(kind=BatchEventKind.LEASE_LAPSED)
    assert sorted(lapsed.values_list("batch_id", "previous_worker")) == sorted(
        [(batches["lapsed"].pk, "dead:1:x"), (batches["retry"].pk, "")]
    )
    # Swept again at once: nothing more to do (the freed leases have no expiry).
    assert leases.leases_sweep() == []


@pytest.mark.django_db
def test_the_swept_batch_is_dispatched_after_commit_and_finished_by_the_task(
    make_person, feed, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    batch = receive(feed)
    lapse(batch.pk)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert leases.leases_sweep() == [batch.pk]

    assert len(callbacks) == 1
    b = Batch.objects.get(pk=batch.pk)
    assert (b.status, b.applied, b.rejected, b.lease_owner) == ("done", 56, 4, "")


@pytest.mark.django_db
def test_an_officer_requeues_a_stuck_batch_and_its_holder_stops_before_its_next_commit(
    make_person, feed, settings, admin_user
):
    settings.SYNC_CHUNK_ROWS = 10
    batch = receive(feed)

    def requeued_after_the_first_chunk(b):
        if b.committed_line == 10:
            services.batch_requeue(
                batch=b, actor=admin_user, reason="  工作进程无响应，\n人工重新处理 "
            )

    with pytest.raises(services.LeaseLost):
        services.batch_process(batch_id=batch.pk, progress=requeued_after_the_first_chunk)

    b = Batch.objects.get(pk=batch.pk)
    assert (b.status, b.attempts, b.requeues, b.committed_line, b.lease_owner) == (
        "received",
        0,
        1,
        10,
        "",
    )
    event = BatchEvent.objects.get(kind=BatchEventKind.REQUEUED)
    assert (event.reason, event.actor, event.committed_line) == (
        "工作进程无响应， 人工重新处理",
        admin_user,
        10,
    )
    assert event.previous_worker.split(":")[0]  # the holder it took the batch from
    history = Batch.pgh_event_model.objects.filter(pgh_obj=batch, status="received").last()
    assert history.pgh_context.metadata == {
        "user": admin_user.pk,
        "reason": "重新处理部门数据批次：工作进程无响应， 人工重新处理",
    }
    assert services.batch_process(batch_id=batch.pk).applied == 56


@pytest.mark.django_db
def test_a_requeue_is_refused_for_a_finished_batch_or_without_a_reason(make_person, feed):
    batch = services.batch_process(batch_id=receive(feed).pk)
    before = Batch.objects.filter(pk=batch.pk).values().get()
    with pytest.raises(Conflict) as finished:
        services.batch_requeue(batch=batch, actor=None, reason="再来一次")
    assert finished.value.code == "batch_finished"
    assert finished.value.message_zh == f"批次{batch.pk}已处理完成，不能重新处理"
    Batch.objects.filter(pk=batch.pk).update(status=BatchStatus.QUARANTINED)
    for reason, code in [("", "reason_required"), (" \n\t", "reason_required"),
                         ("字" * 501, "reason_too_long")]:  # fmt: skip
        with pytest.raises(DomainError) as refused:
            services.batch_requeue(batch=batch, actor=None, reason=reason)
        assert refused.value.code == code
    after = Batch.objects.filter(pk=batch.pk).values().get()
    assert {**after, "status": "done"} == before
    assert not BatchEvent.objects.filter(kind=BatchEventKind.REQUEUED).exists()


@pytest.mark.django_db
@both_layers_refuse("Cannot update or delete")
def test_the_event_log_is_append_only(make_person, feed, refusal):
    batch = receive(feed)
    leases.lease_claim(batch_id=batch.pk, owner="a:1:x")
    with pytest.raises(Exception, match=refusal), connection.cursor() as c:
        c.execute("UPDATE population_batchevent SET reason = 'x'")


@pytest.mark.django_db(transaction=True)
def test_of_many_simultaneous_claims_exactly_one_wins(make_person, feed):
    batch = receive(feed)
    start = threading.Barrier(8)
    won = []

    def claim(n: int) -> None:
        start.wait()
        try:
            if leases.lease_claim(batch_id=batch.pk, owner=f"w:{n}:x") is not None:
                won.append(n)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert Batch.objects.get(pk=batch.pk).lease_owner == f"w:{won[0]}:x"
    assert BatchEvent.objects.filter(kind=BatchEventKind.CLAIMED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_batch_in_the_middle_of_a_commit_is_neither_claimed_nor_swept_nor_requeued(
    make_person, feed
):
    batch = receive(feed)
    lapse(batch.pk)
    # Another session is committing a step of the batch: it holds the row.
    with psycopg.connect(subprocess_database_url()) as other:
        other.execute("SELECT 1 FROM population_batch WHERE id = %s FOR UPDATE", [batch.pk])
        assert leases.lease_claim(batch_id=batch.pk, owner="b:2:y") is None
        assert leases.leases_sweep() == []
        with pytest.raises(Conflict) as busy:
            services.batch_requeue(batch=batch, actor=None, reason="卡住了")
        assert busy.value.code == "batch_busy"
        other.rollback()
    assert leases.lease_claim(batch_id=batch.pk, owner="b:2:y") is not None


@pytest.mark.django_db
def test_a_live_lease_of_a_process_of_this_host_that_is_gone_is_taken_over_at_once(feed):
    batch = receive(feed)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()
    dead, alive = f"{host}:{gone.pid}:x", f"{host}:{os.getpid()}:x"
    assert leases.holder_gone(dead)
    assert not leases.holder_gone(alive)
    assert not leases.holder_gone(f"another-{host}:{gone.pid}:x")
    assert not leases.holder_gone("garbage")

    leases.lease_claim(batch_id=batch.pk, owner=alive)
    with pytest.raises(services.BatchBusy):
        services.batch_process(batch_id=batch.pk)
    assert leases.lease_claim(batch_id=batch.pk, owner="b:1:y", gone_holder=dead) is None

    with connection.cursor() as cursor:  # the live lease now names the dead process
        cursor.execute(
            "UPDATE population_batch SET lease_owner = %s WHERE id = %s", [dead, batch.pk]
        )
    done = services.batch_process(batch_id=batch.pk)
    assert (done.status, done.applied) == ("done", 56)
    claims = BatchEvent.objects.filter(kind=BatchEventKind.CLAIMED)
    assert list(claims.values_list("previous_worker", flat=True)) == ["", dead]
