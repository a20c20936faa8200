"""``/health/``: one JSON answer on every component, 503 when one fails.

Built on django-health-check (its check classes, its timeouts and its thread executor for
blocking probes); popbase adds the checks below and answers in its own shape::

    {"status": "ok" | "warning" | "failing",
     "components": {"database": {"status": "ok", "detail": "...", "seconds": 0.002}, ...}}

A warning keeps 200; any failing component makes it 503. Decisions:

- **Celery, no worker answering the ping within HEALTH_CELERY_TIMEOUT_SECONDS: a warning.** The
  site keeps serving reads and writes without a worker; what cannot wait (the access-log sealer)
  has its own check that fails once rows stay unsealed past ``AUDIT_SEAL_MAX_DELAY_SECONDS``.
- **No backup folder configured (BACKUP_DIR empty): a warning** (the quickstart); configured but
  no finished base backup within ``BACKUP_MAX_AGE_HOURS``, or WAL archiving failing: failing.
- Redis unset (the quickstart, tasks eager): a warning; set and unreachable: failing.
- Disk: under ``HEALTH_DISK_MIN_FREE_PERCENT`` free is failing, under twice that a warning.
- Read replicas (any database alias besides ``default``): reachable, and their replay lag
  within ``REPLICA_MAX_LAG_SECONDS`` (else a warning: the router reads from the primary then).

Messages name components and figures only: no host, no password, no personal data.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import shutil
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.db.models import Min
from django.http import JsonResponse
from django.utils import timezone
from health_check.base import HealthCheck
from health_check.checks import Database
from health_check.exceptions import ServiceUnavailable, ServiceWarning
from health_check.views import HealthCheckView


class InRequestThread:
    """Runs the blocking probe in the request's own thread when it reads the database (it uses
    the request's connection instead of leaving one open per pool thread), else in a pool
    thread beside the others."""

    uses_database = True

    async def run(self):
        await sync_to_async(self.probe, thread_sensitive=self.uses_database)()


@dataclasses.dataclass
class DatabaseLag(InRequestThread, Database):
    """django-health-check's ``SELECT 1``, plus replay lag on a replica."""

    def probe(self):
        Database.run(self)
        if self.alias == "default":
            return
        with connections[self.alias].cursor() as cursor:
            cursor.execute(
                "SELECT pg_is_in_recovery(),"
                " EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())"
            )
            recovering, lag = cursor.fetchone()
        if recovering and lag is not None and lag > settings.REPLICA_MAX_LAG_SECONDS:
            raise ServiceWarning(f"replica {self.alias} replays {lag:.0f} s behind")


@dataclasses.dataclass
class RedisPing(InRequestThread, HealthCheck):
    """PING on ``REDIS_URL`` with a short timeout (read at run time)."""

    uses_database = False

    def probe(self):
        url = settings.REDIS_URL
        if not url:
            raise ServiceWarning("REDIS_URL not set: tasks run eagerly, local cache")
        import redis

        timeout = settings.HEALTH_REDIS_TIMEOUT_SECONDS
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            client.ping()
        except redis.RedisError as exc:
            raise ServiceUnavailable(f"Redis unreachable ({type(exc).__name__})") from exc
        finally:
            client.close()


@dataclasses.dataclass
class CeleryWorkers(InRequestThread, HealthCheck):
    """A ``ping`` broadcast to the workers; none answering is a warning (see the module)."""

    uses_database = False

    def probe(self):
        if settings.CELERY_TASK_ALWAYS_EAGER:
            return
        if not settings.REDIS_URL and not settings.CELERY_BROKER_URL:
            return
        from config.celery import app

        try:
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=settings.HEALTH_REDIS_TIMEOUT_SECONDS)
                replies = app.control.ping(
                    timeout=settings.HEALTH_CELERY_TIMEOUT_SECONDS, connection=conn
                )
        except Exception as exc:  # broker unreachable: the Redis check says why
            raise ServiceWarning(f"no ping through the broker ({type(exc).__name__})") from exc
        if not replies:
            raise ServiceWarning("no Celery worker answered the ping")


@dataclasses.dataclass
class DiskSpace(InRequestThread, HealthCheck):
    """Free space where popbase writes (data, checkpoints, backups, HEALTH_DISK_PATHS)."""

    uses_database = False

    def probe(self):
        floor = settings.HEALTH_DISK_MIN_FREE_PERCENT
        worst = None
        for path in disk_paths():
            probe = path
            while not probe.exists() and probe != probe.parent:
                probe = probe.parent
            usage = shutil.disk_usage(probe)
            free = 100 * usage.free / usage.total
            if worst is None or free < worst[0]:
                worst = (free, path)
        if worst is None:
            return
        free, path = worst
        if free < floor:
            raise ServiceUnavailable(f"{free:.1f}% free under {path} (< {floor}%)")
        if free < 2 * floor:
            raise ServiceWarning(f"{free:.1f}% free under {path} (< {2 * floor}%)")


def disk_paths() -> list[Path]:
    paths = [Path(settings.POPBASE_DATA_DIR), Path(settings.AUDIT_CHECKPOINT_DIR)]
    if settings.BACKUP_DIR:
        paths.append(Path(settings.BACKUP_DIR))
    paths.extend(Path(p) for p in settings.HEALTH_DISK_PATHS)
    return paths


@dataclasses.dataclass
class AuditSealing(InRequestThread, HealthCheck):
    """Age of the oldest access-log row not yet sealed into the chain."""

    def probe(self):
        from population.audit import unsealed_rows

        oldest = unsealed_rows().aggregate(at=Min("at"))["at"]
        if oldest is None:
            return
        lag = (timezone.now() - oldest).total_seconds()
        limit = settings.AUDIT_SEAL_MAX_DELAY_SECONDS
        if lag > limit:
            raise ServiceUnavailable(f"oldest unsealed row is {lag:.0f} s old (> {limit} s)")


@dataclasses.dataclass
class LastBackup(InRequestThread, HealthCheck):
    """The newest finished base backup in ``BACKUP_DIR``, and WAL archiving (pg_stat_archiver)."""

    def probe(self):
        from ops.backup import latest_base_backup

        if not settings.BACKUP_DIR:
            raise ServiceWarning("BACKUP_DIR not set: no backups are taken")
        latest = latest_base_backup()
        if latest is None:
            raise ServiceUnavailable("no finished base backup")
        age = dt.datetime.now(dt.UTC) - latest.finished_at
        if age > dt.timedelta(hours=settings.BACKUP_MAX_AGE_HOURS):
            raise ServiceUnavailable(
                f"newest base backup is {age.total_seconds() / 3600:.0f} h old"
                f" (> {settings.BACKUP_MAX_AGE_HOURS} h)"
            )
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT last_failed_time IS NOT NULL AND last_failed_time >"
                " coalesce(last_archived_time, '-infinity') FROM pg_stat_archiver"
            )
            if cursor.fetchone()[0]:
                raise ServiceUnavailable("WAL archiving is failing (pg_stat_archiver)")


def components() -> dict[str, HealthCheck]:
    checks: dict[str, HealthCheck] = {"database": DatabaseLag(alias="default")}
    for alias in settings.DATABASES:
        if alias != "default":
            checks[f"database:{alias}"] = DatabaseLag(alias=alias)
    checks |= {
        "redis": RedisPing(),
        "celery": CeleryWorkers(),
        "disk": DiskSpace(),
        "audit_sealing": AuditSealing(),
        "backup": LastBackup(),
    }
    return checks


def _status(error) -> str:
    if error is None:
        return "ok"
    return "warning" if isinstance(error, ServiceWarning) else "failing"


class HealthView(HealthCheckView):
    """django-health-check's runner (concurrent, each check under its timeout), popbase's JSON."""

    def get_checks(self):
        self._names = components()
        return list(self._names.values())

    async def get(self, request, *args, **kwargs):
        checks = self.get_checks()
        self.results = await asyncio.gather(*(check.get_result() for check in checks))
        names = {id(check): name for name, check in self._names.items()}
        parts = {}
        for result in self.results:
            parts[names[id(result.check)]] = {
                "status": _status(result.error),
                "detail": result.error.message if result.error else "",
                "seconds": round(result.time_taken, 3),
            }
        states = {p["status"] for p in parts.values()}
        overall = "failing" if "failing" in states else "warning" if "warning" in states else "ok"
        return JsonResponse(
            {"status": overall, "components": parts}, status=503 if overall == "failing" else 200
        )
