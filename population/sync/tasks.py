"""Celery tasks of the department sync: thin wrappers over the services, idempotent."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError, connection

from population.errors import DomainError
from population.sync import leases, services
from population.sync.departments import Department


def _backoff(retries: int) -> int:
    return min(600, 10 * 2**retries)


@shared_task(
    bind=True,
    name="population.sync.batch_process",
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,  # attempts are counted on the batch (SYNC_MAX_ATTEMPTS), not here
)
def batch_process_task(self, batch_id: int) -> str:
    """Process a batch; retried with backoff, quarantined when it keeps failing.

    A batch whose lease another process holds is left to it ("busy"): if that process dies,
    its lease lapses and the lease sweep dispatches the batch again.
    """
    try:
        return services.batch_process(batch_id=batch_id).status
    except services.BatchBusy:
        return "busy"
    except services.LeaseLost:
        return "lease_lost"
    except DomainError as exc:  # the file itself is wrong: no retry can fix it
        return services.batch_record_failure(batch_id=batch_id, error=str(exc), final=True).status
    except Exception as exc:
        if isinstance(exc, OperationalError | InterfaceError) and not connection.is_usable():
            connection.close()  # a lost connection is reopened for the note below
        countdown = _backoff(self.request.retries)
        batch = services.batch_record_failure(
            batch_id=batch_id,
            error=f"{type(exc).__name__}: {exc}",
            final=False,
            retry_in=countdown,
        )
        if batch.status == "quarantined":
            return batch.status
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(name="population.sync.leases_sweep")
def leases_sweep_task() -> list[int]:
    """Dispatch again every unfinished batch whose lease lapsed (Celery beat, every 30 s)."""
    return leases.leases_sweep()


@shared_task(name="population.sync.inbox_scan")
def inbox_scan_task(department: str) -> list[int]:
    """Scan one department's inbox folder (scheduled per department with django-celery-beat)."""
    if department not in Department.values:
        raise ValueError(f"unknown department {department}")
    return [b.pk for b in services.inbox_scan(department=department)]
