"""Keep every finally-failed Celery task in ``TaskFailure`` (connected in ``OpsConfig.ready``)."""

from __future__ import annotations

import logging

from celery.signals import task_failure

from population.logging import mask_citizen_ids_in_text

logger = logging.getLogger(__name__)
_MAX = 4000


def _bounded(text: str) -> str:
    text = mask_citizen_ids_in_text(text)
    return text if len(text) <= _MAX else text[: _MAX - 1] + "…"


@task_failure.connect(dispatch_uid="ops.task_failure_record")
def task_failure_record(
    sender=None, task_id=None, exception=None, args=None, kwargs=None, einfo=None, **extra
):
    """Never raises: the failure may be the database itself, then only the log line remains."""
    from django.db import transaction

    from ops.models import TaskFailure

    request = getattr(sender, "request", None)
    try:
        # A savepoint: an eager task (quickstart, tests) fails inside its caller's transaction,
        # which must not be broken by a failed insert here.
        with transaction.atomic():
            TaskFailure.objects.create(
                task_id=str(task_id or "")[:64],
                task_name=str(getattr(sender, "name", "") or "")[:200],
                arguments=_bounded(f"args={args!r} kwargs={kwargs!r}"),
                exception=type(exception).__name__[:200],
                message=_bounded(str(exception)),
                traceback=_bounded(str(einfo or "")),
                retries=int(getattr(request, "retries", 0) or 0),
                worker=str(getattr(request, "hostname", "") or "")[:200],
            )
    except Exception as exc:
        logger.error(
            "task %s %s failed (%s) and could not be recorded: %s",
            getattr(sender, "name", "?"),
            task_id,
            type(exception).__name__,
            type(exc).__name__,
        )
