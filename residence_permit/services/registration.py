"""居住登记: residence registration, recorded and ended."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction

from population import services as population_services
from population.actors import Actor, officer_or_none
from population.errors import Conflict, check_date, require
from population.jurisdiction import actor_require_within
from population.models import Person, Region, RegionLevel
from population.services import history_context
from residence_permit import selectors
from residence_permit.models import ResidenceBasis, ResidenceRegistration
from residence_permit.services._common import _end_registration, _lock_holder_first, _lock_person

# -- residence registration (居住登记) ----------------------------------------------------------


@transaction.atomic
def residence_registration_create(
    *,
    person: Person,
    address: str,
    region: Region,
    basis: str,
    start_date: dt.date,
    actor: Actor,
    reason: str = "居住登记",
) -> ResidenceRegistration:
    """居住登记 of someone living away from their hukou address (人户分离 locals included).

    Sets the person's actual residence region. Registrations of one person never overlap
    (the database refuses, too); an open one must be ended or its address changed first.
    """
    require(
        bool(address and address.strip()),
        "须填写居住地址",
        "the address is required",
        "address_required",
    )
    require(
        basis in ResidenceBasis.values,
        "登记事由应为就业、居住或就读",
        "basis must be job, home or study",
        "bad_basis",
    )
    require(
        region is not None and region.level >= RegionLevel.COUNTY,
        "居住地区划应为县级或以下",
        "the region must be a county or below",
        "bad_region",
    )
    person = _lock_person(person, actor=actor, scoped=False)
    actor_require_within(actor, regions=[region])
    check_date(start_date, not_before=person.birth_date)
    require(
        person.hukou_region_id != region.code,
        "居住地即户籍地，无需居住登记",
        "the person lives at their hukou address; nothing to register",
        "at_hukou_address",
    )
    if selectors.registration_open(person=person) is not None:
        raise Conflict(
            "此人已有未终止的居住登记，请先终止或办理变更居住地址",
            "an open residence registration exists; end it or change the address",
            code="registration_open",
        )
    with history_context(actor=actor, reason=reason):
        try:
            with transaction.atomic():
                registration = ResidenceRegistration.objects.create(
                    person=person,
                    address=address.strip(),
                    region=region,
                    basis=basis,
                    start_date=start_date,
                    officer=officer_or_none(actor),
                )
        except IntegrityError as exc:
            raise Conflict(
                "居住登记时间与已有登记重叠",
                "the registration overlaps an earlier one",
                code="registration_overlap",
            ) from exc
        population_services.person_update(
            person=person, actor=actor, reason=reason, residence_region=region
        )
    return registration


@transaction.atomic
def residence_registration_end(
    *, registration: ResidenceRegistration, end_date: dt.date, actor: Actor, reason: str
) -> ResidenceRegistration:
    """The person no longer lives there; residence falls back to the hukou address (or none)."""
    require(
        bool(reason and reason.strip()), "必须填写原因", "a reason is required", "reason_required"
    )
    _lock_holder_first(ResidenceRegistration, registration.pk)
    reg = ResidenceRegistration.objects.select_for_update().get(pk=registration.pk)
    require(
        reg.end_date is None, "居住登记已终止", "the registration has ended", "registration_ended"
    )
    _lock_person(reg.person, actor=actor)
    check_date(end_date)
    if selectors.permit_live_for(person=reg.person) is not None:
        raise Conflict(
            "此人持有居住证：请办理变更居住地址或注销居住证",
            "the person holds a permit: change its address or cancel it",
            code="permit_live",
        )
    with history_context(actor=actor, reason=reason):
        _end_registration(reg, end_date, actor, reason)
    return reg
