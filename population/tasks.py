"""Celery tasks of the base library: thin wrappers over services, idempotent."""

from __future__ import annotations

from celery import shared_task

from population.regions import regions_load_reference


@shared_task(name="population.regions_load_reference")
def regions_load_reference_task() -> dict[str, int]:
    """Reload the shipped region reference data (idempotent: a rerun changes nothing)."""
    return regions_load_reference()


@shared_task(name="population.audit_seal")
def audit_seal_task() -> dict[str, int]:
    """Seal the access-log rows written since the last seal (skips if a sealer is running)."""
    from population.audit import access_log_seal

    result = access_log_seal(wait=False)
    return {"rows": result.rows, "batches": result.batches, "busy": int(result.busy)}


@shared_task(name="population.audit_verify")
def audit_verify_task() -> dict[str, object]:
    """Verify the whole access-log chain; the result is kept for the auditor's page."""
    from population.audit import access_log_verify_record

    result = access_log_verify_record(source="beat")
    return {"intact": result.intact, "finding": result.finding, "seq": result.seq}


@shared_task(name="population.partitions_ensure")
def partitions_ensure_task() -> dict[str, list[str]]:
    """Create this month's and the next months' partitions of every partitioned table
    (idempotent; as the tables' owner when ``DATABASE_OWNER_URL`` is set)."""
    from population.db_roles import connected_as_owner
    from population.partitions import partitions_ensure

    with connected_as_owner():
        return partitions_ensure()


@shared_task(name="population.audit_archive")
def audit_archive_task() -> dict[str, object]:
    """Export, verify and drop the access-log months past ``AUDIT_RETENTION_MONTHS``
    (idempotent; as the tables' owner when ``DATABASE_OWNER_URL`` is set)."""
    from population.audit_archive import access_log_archive
    from population.db_roles import connected_as_owner

    with connected_as_owner():
        run = access_log_archive()
    return {
        "months": [
            {"month": f"{m.month:%Y-%m}", "status": m.status, "rows": m.rows, "detail": m.detail}
            for m in run.months
        ]
    }
