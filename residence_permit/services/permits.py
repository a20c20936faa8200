"""The permit's life: endorsement, lapse, expiry, renewal, address change, reissue and
cancellation.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django_fsm import can_proceed

from population.actors import Actor
from population.clock import today
from population.errors import NotFound, check_date, require
from population.models import Person, PersonStatus, Region
from population.services import history_context
from population.transitions import TRANSITION_REFUSED, transit
from residence_permit import rules, selectors
from residence_permit.models import (
    CancelReason,
    PermitEventKind,
    PermitStatus,
    ResidencePermit,
    ResidenceRegistration,
)
from residence_permit.services._common import _end_registration, _event, _lock_permit
from residence_permit.services.applications import permit_number_allocate
from residence_permit.services.registration import residence_registration_create

# -- the permit's life -------------------------------------------------------------------------


@transaction.atomic
def permit_endorse(
    *, permit: ResidencePermit, actor: Actor, on: dt.date | None = None
) -> ResidencePermit:
    """签注 for the next anniversary.

    In the window (30 days before the anniversary up to the anniversary itself): on time.
    After it, while still active (grace period): late but continuous. A lapsed permit endorsed
    late is active again, and residence years count afresh from that day (条例第十四条).
    """
    on = on or today()
    permit = _lock_permit(permit, actor=actor)
    check_date(on, not_before=permit.issue_date)
    require(
        on <= permit.valid_until,
        "居住证有效期已届满，请办理换领",
        "the permit has expired; renew it",
        "expired",
    )
    due = permit.next_endorsement_due
    require(
        due < permit.valid_until,
        "本次到期日即有效期届满日，请办理换领",
        "this anniversary ends the validity; renew instead",
        "renew_instead",
    )
    first, last = rules.endorsement_window(due)
    was = permit.status
    transit(
        permit,
        "mark_endorsed",
        "当前状态不能签注（当前状态：{status}）",
        "cannot endorse in this status (status is {value})",
    )
    if was == PermitStatus.ACTIVE and on < rules.lapse_day(due):
        require(
            on >= first,
            f"尚未到签注期（{first}至{last}）",
            f"the endorsement window is {first} to {last}",
            "not_in_window",
        )
        kind = PermitEventKind.ENDORSE if on <= last else PermitEventKind.ENDORSE_LATE
        permit.next_endorsement_due = rules.add_years(due, 1)
        fields = ["next_endorsement_due"]
    else:  # lapsed (or past the grace before the daily job noticed): the cycle restarts today
        kind = PermitEventKind.ENDORSE_LATE
        permit.next_endorsement_due = rules.add_years(on, 1)
        permit.continuous_since = on
        permit.lapsed_on = None
        fields = ["status", "next_endorsement_due", "continuous_since", "lapsed_on"]
    with history_context(actor=actor, reason=PermitEventKind(kind).label):
        permit.save(update_fields=fields)
        _event(permit, kind, on, actor, for_anniversary=due)
    return permit


@transaction.atomic
def permit_lapse(
    *, permit: ResidencePermit, on: dt.date, actor: Actor = None
) -> ResidencePermit | None:
    """使用功能中止: not endorsed by the anniversary plus the grace period. None if not due."""
    permit = _lock_permit(permit, actor=actor)
    if permit.status != PermitStatus.ACTIVE or on < rules.lapse_day(permit.next_endorsement_due):
        return None
    permit.mark_lapsed()
    with history_context(actor=actor, reason="逾期未签注"):
        permit.lapsed_on = on
        permit.save(update_fields=["status", "lapsed_on"])
        _event(
            permit, PermitEventKind.LAPSE, on, actor, for_anniversary=permit.next_endorsement_due
        )
    return permit


@transaction.atomic
def permit_expire(
    *, permit: ResidencePermit, on: dt.date, actor: Actor = None
) -> ResidencePermit | None:
    """有效期届满 on the day after ``valid_until``. None if not due."""
    permit = _lock_permit(permit, actor=actor)
    if on <= permit.valid_until or not can_proceed(permit.mark_expired):
        return None
    permit.mark_expired()
    with history_context(actor=actor, reason="有效期届满"):
        permit.save(update_fields=["status"])
        _event(permit, PermitEventKind.EXPIRE, on, actor)
    return permit


@transaction.atomic
def permit_renew(
    *, permit: ResidencePermit, actor: Actor, on: dt.date | None = None
) -> ResidencePermit:
    """换领: a new validity period from ``on`` (same number).

    Allowed for an expired or lapsed permit, or an active one within its last 30 days. From
    lapsed or expired, residence years count afresh from ``on`` (as a late endorsement).
    """
    on = on or today()
    permit = _lock_permit(permit, actor=actor)
    check_date(on, not_before=permit.issue_date)
    was = permit.status
    transit(
        permit,
        "mark_renewed",
        "当前状态不能换领（当前状态：{status}）",
        "cannot renew in this status (status is {value})",
    )
    if was == PermitStatus.ACTIVE:
        require(
            on >= permit.valid_until - dt.timedelta(days=rules.ENDORSE_WINDOW_DAYS),
            "有效期届满前30日内方可换领",
            "renewal opens 30 days before the validity ends",
            "not_in_window",
        )
    require(
        selectors.registration_open(person=permit.person) is not None,
        "无有效居住登记，不能换领",
        "no open residence registration",
        "no_registration",
    )
    permit.valid_until = rules.add_years(on, rules.VALIDITY_YEARS)
    permit.next_endorsement_due = rules.add_years(on, 1)
    fields = ["status", "valid_until", "next_endorsement_due"]
    if was != PermitStatus.ACTIVE:
        permit.continuous_since = on
        permit.lapsed_on = None
        fields += ["continuous_since", "lapsed_on"]
    with history_context(actor=actor, reason="换领居住证"):
        permit.save(update_fields=fields)
        _event(permit, PermitEventKind.RENEW, on, actor, valid_until=permit.valid_until)
    return permit


@transaction.atomic
def permit_change_address(
    *,
    permit: ResidencePermit,
    address: str,
    region: Region,
    actor: Actor,
    on: dt.date | None = None,
    basis: str | None = None,
    reason: str = "变更居住地址",
) -> ResidencePermit:
    """变更居住地址 within the city: the registration ends the day before and a new one starts.

    Residence stays continuous (no gap), so the six-month count and the points keep running.
    """
    on = on or today()
    permit = _lock_permit(permit, actor=actor)
    require(
        permit.status in (PermitStatus.ACTIVE, PermitStatus.LAPSED),
        "当前状态不能变更地址",
        "cannot change the address in this status",
        TRANSITION_REFUSED,
    )
    old = ResidenceRegistration.objects.select_for_update().get(pk=permit.registration_id)
    require(
        old.end_date is None, "居住登记已终止", "the registration has ended", "registration_ended"
    )
    require(
        on > old.start_date,
        "变更日期须晚于原居住登记起始日期",
        "the change must be after the current registration started",
        "date_order",
    )
    with history_context(actor=actor, reason=reason):
        old.end_date = on - dt.timedelta(days=1)
        old.save(update_fields=["end_date"])
        new = residence_registration_create(
            person=permit.person,
            address=address,
            region=region,
            basis=basis or old.basis,
            start_date=on,
            actor=actor,
            reason=reason,
        )
        previous = permit.address
        permit.registration = new
        permit.address = new.address
        permit.region = region
        permit.save(update_fields=["registration", "address", "region"])
        _event(
            permit,
            PermitEventKind.CHANGE_ADDRESS,
            on,
            actor,
            reason,
            old_address=previous,
            new_address=new.address,
        )
    return permit


@transaction.atomic
def permit_reissue(
    *, permit: ResidencePermit, actor: Actor, reason: str = "遗失补领", on: dt.date | None = None
) -> ResidencePermit:
    """补领 after loss or damage: a new number; the old one is recorded and never valid again."""
    on = on or today()
    require(
        bool(reason and reason.strip()), "必须填写原因", "a reason is required", "reason_required"
    )
    permit = _lock_permit(permit, actor=actor)
    require(
        permit.status in (PermitStatus.ACTIVE, PermitStatus.LAPSED),
        "当前状态不能补领",
        "cannot reissue in this status",
        TRANSITION_REFUSED,
    )
    check_date(on, not_before=permit.issue_date)
    new_number = permit_number_allocate(county_code=permit.region_id[:6], year=on.year)
    with history_context(actor=actor, reason=reason):
        # The event carries the retired number, so a lost card's number still finds its story.
        _event(permit, PermitEventKind.REISSUE, on, actor, reason.strip(), new_number=new_number)
        permit.number = new_number
        permit.save(update_fields=["number"])
    return permit


def _cancel(permit: ResidencePermit, on: dt.date, why: str, actor: Actor, reason: str):
    transit(
        permit,
        "mark_cancelled",
        "居住证已注销（当前状态：{status}）",
        "the permit is already cancelled (status is {value})",
    )
    permit.cancelled_on = on
    permit.cancel_reason = why
    permit.save(update_fields=["status", "cancelled_on", "cancel_reason"])
    _event(permit, PermitEventKind.CANCEL, on, actor, reason, cancel_reason=why)


@transaction.atomic
def permit_cancel_on_settlement(
    *, person: Person, actor: Actor, on: dt.date | None = None, reason: str = "在本市落户"
) -> ResidencePermit | None:
    """The holder settles in the city (落户): the permit and the residence registration end.

    Called by the settlement app inside its completing transaction. A person without a live
    permit returns None and nothing changes, so a repeated call is harmless. The residence
    region is left to the settlement's move-in, which knows the new address.
    """
    on = on or today()
    if person is None or person.pk is None or not Person.objects.filter(pk=person.pk).exists():
        raise NotFound("人员不存在", "unknown person", code="unknown_person")
    live = selectors.permit_live_for(person=person)
    if live is None:
        return None
    permit = _lock_permit(live, actor=actor)
    if permit.status == PermitStatus.CANCELLED:  # cancelled meanwhile by someone else
        return None
    check_date(on, not_before=permit.issue_date)
    with history_context(actor=actor, reason=reason):
        _cancel(permit, on, CancelReason.SETTLED, actor, reason)
        reg = ResidenceRegistration.objects.select_for_update().get(pk=permit.registration_id)
        if reg.end_date is None:
            reg.end_date = max(on, reg.start_date)
            reg.save(update_fields=["end_date"])
    return permit


@transaction.atomic
def permit_cancel_on_leaving(
    *, permit: ResidencePermit, actor: Actor, on: dt.date | None = None, reason: str = "离开居住地"
) -> ResidencePermit:
    """The holder left the city: the permit is cancelled and the registration ended."""
    on = on or today()
    permit = _lock_permit(permit, actor=actor)
    check_date(on, not_before=permit.issue_date)
    with history_context(actor=actor, reason=reason):
        _cancel(permit, on, CancelReason.LEFT, actor, reason)
        reg = (
            ResidenceRegistration.objects.select_for_update()
            .select_related("person")
            .get(pk=permit.registration_id)
        )
        if reg.end_date is None:
            _end_registration(reg, max(on, reg.start_date), actor, reason)
    return permit


@transaction.atomic
def permit_cancel_on_death(
    *, permit: ResidencePermit, on: dt.date, actor: Actor = None
) -> ResidencePermit | None:
    """The holder died: the permit is cancelled and the registration ended (None if not)."""
    permit = _lock_permit(permit, actor=actor)
    if permit.status == PermitStatus.CANCELLED or permit.person.status != PersonStatus.DECEASED:
        return None
    with history_context(actor=actor, reason="持证人死亡"):
        _cancel(permit, max(on, permit.issue_date), CancelReason.DECEASED, actor, "持证人死亡")
        reg = ResidenceRegistration.objects.select_for_update().get(pk=permit.registration_id)
        if reg.end_date is None:
            reg.end_date = max(on, reg.start_date)
            reg.save(update_fields=["end_date"])
    return permit
