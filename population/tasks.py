"""Celery tasks of the base library: thin wrappers over services, idempotent."""

from __future__ import annotations

from celery import shared_task

from population.regions import regions_load_reference


@shared_task(name="population.regions_load_reference")
def regions_load_reference_task() -> dict[str, int]:
    """Reload the shipped region reference data (idempotent: a rerun changes nothing)."""
    return regions_load_reference()


# Department sync tasks live in their package; importing them here registers them.
from population.sync.tasks import batch_process_task, inbox_scan_task  # noqa: E402, F401
