"""Celery reliability, per task, as task annotations (``CELERY_TASK_ANNOTATIONS``): nothing in
the tasks' own code changes.

- **Time limits** for every task: a soft limit (``SoftTimeLimitExceeded`` raised in the task, so
  it can stop between chunks) and a hard one (the worker process is killed), both below the
  Redis visibility timeout so Redis never hands a running task to a second worker. Tasks not
  named below get the default (visibility timeout minus 15 minutes).
- **Retries with backoff on transient errors only**: a lost or refused database connection, a
  deadlock or a cancelled statement (Django's ``OperationalError``/``InterfaceError``) and a
  Redis connection error are retried with exponential backoff and jitter, up to 5 times; any
  other error (bad data, a refused rule) fails at once, as a retry cannot fix it. Only tasks
  whose docstrings promise that a rerun changes nothing get retries. The feed batch task keeps
  its own retry and quarantine rules (``SYNC_MAX_ATTEMPTS``), and the sealer runs every few
  seconds anyway.
- **Dead tasks**: a task that finally fails (retries spent, time limit, any error) is recorded
  in ``ops.TaskFailure`` (admin: 运行维护 › 失败任务), with citizen IDs masked.
"""

from __future__ import annotations

from django.db.utils import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

TRANSIENT_ERRORS = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)

MINUTE = 60
HOUR = 3600

# task name -> (soft, hard) seconds; generous against today's figures on the 1M-person bench.
TASK_LIMITS: dict[str, tuple[int, int]] = {
    "population.audit_seal": (4 * MINUTE, 5 * MINUTE),
    "population.audit_verify": (2 * HOUR, 2 * HOUR + 10 * MINUTE),
    "population.stats_snapshot_month": (HOUR, HOUR + 10 * MINUTE),
    "population.stats_recount_check": (HOUR, HOUR + 10 * MINUTE),
    "population.regions_load_reference": (10 * MINUTE, 12 * MINUTE),
    "population.sync.inbox_scan": (10 * MINUTE, 12 * MINUTE),
    "registry.quality_detect": (2 * HOUR, 2 * HOUR + 10 * MINUTE),
    "residence_permit.permits_daily": (HOUR, HOUR + 10 * MINUTE),
    "residence_permit.points_recompute_changed": (2 * HOUR, 2 * HOUR + 10 * MINUTE),
    "settlement.transfer_permits_expire": (30 * MINUTE, 35 * MINUTE),
}

# Idempotent tasks (a rerun changes nothing) retried on transient errors.
RETRIED_ON_TRANSIENT = [
    "population.audit_verify",
    "population.stats_snapshot_month",
    "population.stats_recount_check",
    "population.regions_load_reference",
    "registry.quality_detect",
    "residence_permit.permits_daily",
    "residence_permit.points_recompute_changed",
    "settlement.transfer_permits_expire",
]


def transient_retry(*, backoff: int = 5, backoff_max: int = 600, max_retries: int = 5) -> dict:
    """Celery task options: retry on TRANSIENT_ERRORS only, exponential backoff with jitter."""
    return {
        "autoretry_for": TRANSIENT_ERRORS,
        "retry_backoff": backoff,
        "retry_backoff_max": backoff_max,
        "retry_jitter": True,
        "max_retries": max_retries,
    }


def default_limits(
    visibility_timeout: int, *, strict: bool = True
) -> tuple[int, int] | tuple[None, None]:
    """The (soft, hard) limits of tasks not named in ``TASK_LIMITS``.

    A visibility timeout too short for any limit (below a minute) is refused when ``strict``
    (production); otherwise such tasks run without a time limit, as a development or test
    worker with a seconds-long visibility timeout needs."""
    hard = max(MINUTE, visibility_timeout - 15 * MINUTE)
    if hard >= visibility_timeout:
        if strict:
            raise ValueError(
                f"CELERY_VISIBILITY_TIMEOUT ({visibility_timeout}) leaves no room for a task "
                f"time limit below it; at least {MINUTE + 1} seconds"
            )
        return None, None
    return hard - 5 * MINUTE if hard > 10 * MINUTE else hard // 2, hard


def task_annotations(visibility_timeout: int, *, strict: bool = True) -> dict[str, dict]:
    """``CELERY_TASK_ANNOTATIONS``; a limit at or above the visibility timeout is refused when
    ``strict`` (production), else that task runs without time limits."""
    annotations: dict[str, dict] = {}
    for name, (soft, hard) in TASK_LIMITS.items():
        if not soft < hard < visibility_timeout:
            if not strict:
                continue
            raise ValueError(
                f"{name}: limits must be soft < hard < CELERY_VISIBILITY_TIMEOUT"
                f" ({soft}, {hard}, {visibility_timeout})"
            )
        annotations[name] = {"soft_time_limit": soft, "time_limit": hard}
    for name in RETRIED_ON_TRANSIENT:
        annotations.setdefault(name, {}).update(transient_retry())
    return annotations
