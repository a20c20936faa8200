"""Merging duplicate persons (registry.quality): what the residence-permit app keeps."""

from __future__ import annotations

from population.errors import require
from population.models import Person
from residence_permit.models import (
    ApplicationStatus,
    PermitApplication,
    PermitStatus,
    ResidencePermit,
)

# -- merging duplicate persons (registry.quality) ------------------------------------------------

# Permit records stay on the row they were made for; a duplicate that still holds a live permit or
# a pending application is not merged away until an officer settles that permit first.
MERGE_KEPT_REFERENCES = frozenset(
    {
        "residence_permit.ResidenceRegistration.person",
        "residence_permit.PersonFact.person",
        "residence_permit.PermitApplication.person",
        "residence_permit.PermitApplication.proxy",
        "residence_permit.PermitApplication.sponsor",
        "residence_permit.ResidencePermit.person",
        "residence_permit.PointsEntry.person",
        "residence_permit.PointsAccount.person",
    }
)


def permit_merge_guard(*, survivor: Person, duplicate: Person) -> None:
    """Refuse to merge away a person who holds a live permit or a pending application."""
    live = ResidencePermit.objects.filter(
        person=duplicate, status__in=[PermitStatus.ACTIVE, PermitStatus.LAPSED]
    ).exists()
    pending = PermitApplication.objects.filter(
        person=duplicate, status=ApplicationStatus.SUBMITTED
    ).exists()
    require(
        not (live or pending),
        "重复人员持有有效居住证或待审核的申请，须先注销居住证或处理申请",
        "the duplicate holds a live residence permit or a pending application; "
        "cancel the permit or decide the application first",
        "duplicate_holds_permit",
    )
