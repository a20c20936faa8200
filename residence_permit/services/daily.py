"""The daily job over the permits: lapse, expire and remind."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction

from population.clock import today
from population.models import PersonStatus
from residence_permit import selectors
from residence_permit.models import PermitEvent, PermitEventKind, PermitStatus, ResidencePermit
from residence_permit.services._common import _event
from residence_permit.services.permits import permit_cancel_on_death, permit_expire, permit_lapse

# -- the daily job ------------------------------------------------------------------------------


def permits_daily_run(*, on: dt.date | None = None, batch_size: int = 500) -> dict[str, int]:
    """Lapses past the grace, expiries, then reminders for open windows. Idempotent.

    Each permit is its own short transaction, so a long run holds no lock on the table and a
    second run on the same day finds nothing left to do.
    """
    on = on or today()
    counts = {"reminded": 0, "lapsed": 0, "expired": 0, "deceased": 0}
    # Registry records deaths without knowing about permits; the permits follow here.
    of_deceased = ResidencePermit.objects.exclude(status=PermitStatus.CANCELLED).filter(
        person__status=PersonStatus.DECEASED
    )
    for pk in list(of_deceased.values_list("pk", flat=True)):
        if permit_cancel_on_death(permit=ResidencePermit(pk=pk), on=on):
            counts["deceased"] += 1
    for pk in list(selectors.permits_to_lapse(on=on).values_list("pk", flat=True)):
        if permit_lapse(permit=ResidencePermit(pk=pk), on=on):
            counts["lapsed"] += 1
    expiring = ResidencePermit.objects.filter(
        status__in=[PermitStatus.ACTIVE, PermitStatus.LAPSED], valid_until__lt=on
    ).values_list("pk", flat=True)
    for pk in list(expiring):
        if permit_expire(permit=ResidencePermit(pk=pk), on=on):
            counts["expired"] += 1
    # Lapses and expiries first, so reminders go to permits still usable.
    for permit in selectors.permits_due_for_endorsement(on=on).iterator(chunk_size=batch_size):
        if permit_remind(permit=permit, on=on):
            counts["reminded"] += 1
    return counts


@transaction.atomic
def permit_remind(*, permit: ResidencePermit, on: dt.date) -> bool:
    """One reminder per permit and anniversary (the window's first job run records it)."""
    due = permit.next_endorsement_due
    if PermitEvent.objects.filter(
        permit=permit, kind=PermitEventKind.REMIND, details__for_anniversary=due.isoformat()
    ).exists():
        return False
    try:
        with transaction.atomic():
            _event(permit, PermitEventKind.REMIND, on, None, "签注提醒", for_anniversary=due)
    except IntegrityError:  # another run recorded today's reminder meanwhile
        return False
    return True
