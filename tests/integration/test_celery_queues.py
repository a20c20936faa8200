"""Queues per workload (CELERY_TASK_ROUTES in config/settings.py) with real workers on Redis.

Two workers on different queues: each runs only its own workload's tasks, and a flooded
ingest queue with no free worker does not hold up the daily jobs. The queue names get a
suffix per test run, so parallel test processes sharing the Redis never take each other's
tasks; the queue each task goes to is the one the settings route it to. Which worker ran a task
and from which queue is in its result (CELERY_RESULT_EXTENDED).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings

from config.celery import app
from tests.dburl import subprocess_database_url

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {
    "population.sync.batch_process": "ingest",
    "population.sync.inbox_scan": "ingest",
    "population.sync.leases_sweep": "ingest",
    "population.stats_snapshot_month": "statistics",
    "population.stats_recount_check": "statistics",
    "registry.quality_detect": "statistics",
    "residence_permit.permits_daily": "permits",
    "residence_permit.points_recompute_changed": "permits",
    "settlement.transfer_permits_expire": "permits",
    "population.audit_seal": "audit",
    "population.audit_verify": "audit",
    "population.audit_archive": "audit",
    "population.partitions_ensure": "audit",
    "population.regions_load_reference": "default",
}


def _queue_of(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


def test_every_task_is_routed_to_its_workload_queue_and_every_queue_is_declared():
    app.loader.import_default_modules()  # every task module, as a worker would
    ours = sorted(
        n
        for n in app.tasks
        if n.split(".")[0] in {"population", "registry", "residence_permit"}
        or n.startswith("settlement.")
    )
    assert ours == sorted(EXPECTED), "a task was added or renamed: give it a queue here"
    assert {name: _queue_of(name) for name in ours} == EXPECTED
    declared = {q.name for q in settings.CELERY_TASK_QUEUES}
    assert declared == {"default", "ingest", "statistics", "permits", "audit"}
    # A task nobody routed lands on the default queue, which a plain worker also takes.
    assert _queue_of("some.unrouted_task") == "default"


def _worker(name: str, queues: list[str], log: Path) -> subprocess.Popen:
    """A `celery worker -Q ...` process (what `make worker QUEUES=...` runs) on the test
    database."""
    env = {
        **os.environ,
        "DATABASE_URL": subprocess_database_url(),
        "REDIS_URL": settings.REDIS_URL,
    }
    return subprocess.Popen(  # noqa: S603 - fixed arguments
        [
            *(sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo"),
            *("-Q", ",".join(queues), "-n", name, "--without-gossip", "--without-mingle"),
            *("--without-heartbeat", "-l", "info"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_different_queues_each_run_only_their_workload(tmp_path):
    suffix = uuid.uuid4().hex[:12]

    def queue(task_name: str) -> str:
        return f"{_queue_of(task_name)}-{suffix}"

    daily = ["residence_permit.permits_daily", "settlement.transfer_permits_expire"]
    daily.append("population.audit_seal")
    reports = ["population.stats_snapshot_month", "population.regions_load_reference"]
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    workers = [
        _worker(f"daily-{suffix}@test", [f"permits-{suffix}", f"audit-{suffix}"], tmp_path / "a"),
        _worker(
            f"reports-{suffix}@test", [f"statistics-{suffix}", f"default-{suffix}"], tmp_path / "b"
        ),
    ]
    try:
        # A flood of ingest work that no running worker takes.
        for n in range(20):
            app.send_task(
                "population.sync.inbox_scan",
                args=[f"no-such-department-{n}"],
                queue=queue("population.sync.inbox_scan"),
            )
        results = {name: app.send_task(name, queue=queue(name)) for name in daily + reports}
        for result in results.values():
            result.get(timeout=120)
        ran = {name: (result.worker, result.queue) for name, result in results.items()}
        waiting_ingest = broker.llen(f"ingest-{suffix}")
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        for name in ("ingest", "statistics", "permits", "audit", "default"):
            broker.delete(f"{name}-{suffix}", f"_kombu.binding.{name}-{suffix}")

    assert ran == {
        **{name: (f"daily-{suffix}@test", queue(name)) for name in daily},
        **{name: (f"reports-{suffix}@test", queue(name)) for name in reports},
    }
    # The daily jobs ran while all twenty ingest tasks still waited for an ingest worker.
    assert waiting_ingest == 20
