"""Celery task of the data-quality side: thin and idempotent (a rerun opens nothing new)."""

from __future__ import annotations

from celery import shared_task

from registry.quality.services import quality_detect


@shared_task(name="registry.quality_detect")
def quality_detect_task(detectors: list[str] | None = None) -> dict:
    """Run the detectors over the whole population; returns the run's id and counts."""
    run = quality_detect(detectors=detectors)
    return {"run": run.pk, "status": run.status, "results": run.results}
