"""Locks and the permit event shared by the residence-permit services."""

from __future__ import annotations

import datetime as dt

from population import services as population_services
from population.actors import Actor, officer_or_none
from population.errors import Conflict, NotFound, require
from population.jurisdiction import actor_require_within
from population.models import Person, PersonStatus
from population.sharing.scopes import ScopeCode
from registry.locks import lock_persons_then_households
from residence_permit.models import (
    PermitEvent,
    PermitEventKind,
    ResidencePermit,
    ResidenceRegistration,
)


def _lock_person(person: Person | None, *, actor: Actor, scoped: bool = True) -> Person:
    """Lock the person; refuse one outside the acting user's area (unless ``scoped`` is off:
    a residence registration is what brings a newcomer into the area)."""
    if person is None or person.pk is None:
        raise NotFound("人员不存在", "unknown person", code="unknown_person")
    locked = Person.objects.select_for_update().filter(pk=person.pk).first()
    if locked is None:
        raise NotFound("人员不存在", "unknown person", code="unknown_person")
    if locked.status != PersonStatus.ACTIVE:
        raise Conflict(
            "人员已死亡或注销", "the person is deceased or cancelled", code="person_inactive"
        )
    if scoped:
        actor_require_within(actor, locked)
    return locked


def _lock_holder_first(model, pk: int | None) -> None:
    """Persons first (``registry.locks``): lock the person a permit, registration or application
    belongs to before that row, as the registry and the settlement completion do, so a
    completion holding the person and cancelling the permit never meets a permit service
    holding the permit and waiting for the person. The holder of a row never changes."""
    person_id = model.objects.filter(pk=pk).values_list("person_id", flat=True).first()
    lock_persons_then_households([person_id])


def _lock_permit(permit: ResidencePermit, *, actor: Actor) -> ResidencePermit:
    _lock_holder_first(ResidencePermit, permit.pk)
    locked = (
        ResidencePermit.objects.select_for_update(of=("self",))
        .select_related("person")
        .get(pk=permit.pk)
    )
    actor_require_within(actor, locked)
    return locked


# What departments following the change feed learn of each permit event (none: not a change).
# What the department change feed says of a permit (registered by ResidencePermitConfig.ready).
CHANGE_KINDS = (
    ScopeCode("permit_issued", "居住证签发"),
    ScopeCode("permit_endorsed", "居住证签注"),
    ScopeCode("permit_ended", "居住证失效"),
)
CHANGE_KIND_OF_EVENT: dict[str, str] = {
    PermitEventKind.ISSUE: "permit_issued",
    PermitEventKind.RENEW: "permit_issued",
    PermitEventKind.REISSUE: "permit_issued",
    PermitEventKind.ENDORSE: "permit_endorsed",
    PermitEventKind.ENDORSE_LATE: "permit_endorsed",
    PermitEventKind.LAPSE: "permit_ended",
    PermitEventKind.EXPIRE: "permit_ended",
    PermitEventKind.CANCEL: "permit_ended",
}


def _event(
    permit: ResidencePermit, kind: str, on: dt.date, actor: Actor, reason: str = "", **details
):
    event = PermitEvent.objects.create(
        permit=permit,
        kind=kind,
        on=on,
        number=permit.number,
        officer=officer_or_none(actor),
        reason=reason,
        details={k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in details.items()},
    )
    if kind in CHANGE_KIND_OF_EVENT:
        population_services.change_record(
            kind=CHANGE_KIND_OF_EVENT[kind],
            person=permit.person,
            source=f"residence_permit.{event.pk}",
            effective_date=on,
            regions=[permit.region_id],
        )
    return event


# -- residence registration (居住登记) ----------------------------------------------------------


def _end_registration(reg: ResidenceRegistration, end_date: dt.date, actor: Actor, reason: str):
    require(
        end_date >= reg.start_date,
        "终止日期早于居住起始日期",
        "the end date is before the start",
        "date_order",
    )
    reg.end_date = end_date
    reg.save(update_fields=["end_date"])
    person = reg.person
    population_services.person_update(
        person=person, actor=actor, reason=reason, residence_region=person.hukou_region
    )
