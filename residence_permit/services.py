"""Writes of the residence-permit app: registration, applications, permits. Every write here.

Each action is one transaction: lock the row it changes, check the guards (the FSM transition
among them), change it with ``update_fields``, append a ``PermitEvent``. A refusal raises a
``DomainError`` before anything is written, or rolls the transaction back. The person's actual
residence region is kept through ``population.services.person_update``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_fsm import can_proceed

from population import services as population_services
from population.actors import officer_or_none
from population.clock import today
from population.errors import Conflict, DomainError, NotFound, check_date, require
from population.jurisdiction import actor_require_within
from population.models import Person, PersonStatus, Region, RegionLevel
from population.services import history_context
from population.sharing.scopes import ScopeCode
from population.transitions import TRANSITION_REFUSED, transit
from registry.locks import lock_persons_then_households
from residence_permit import rules, selectors
from residence_permit.models import (
    ApplicationStatus,
    CancelReason,
    PermitApplication,
    PermitEvent,
    PermitEventKind,
    PermitStatus,
    PersonFact,
    PersonFactKind,
    PersonFactSource,
    ResidenceBasis,
    ResidencePermit,
    ResidenceRegistration,
)


def _lock_person(person: Person | None, *, actor: Any, scoped: bool = True) -> Person:
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


def _lock_permit(permit: ResidencePermit, *, actor: Any) -> ResidencePermit:
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
CHANGE_KIND_OF_EVENT = {
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
    permit: ResidencePermit, kind: str, on: dt.date, actor: Any, reason: str = "", **details
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


@transaction.atomic
def residence_registration_create(
    *,
    person: Person,
    address: str,
    region: Region,
    basis: str,
    start_date: dt.date,
    actor: Any,
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


def _end_registration(reg: ResidenceRegistration, end_date: dt.date, actor: Any, reason: str):
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


@transaction.atomic
def residence_registration_end(
    *, registration: ResidenceRegistration, end_date: dt.date, actor: Any, reason: str
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


# -- facts ------------------------------------------------------------------------------------


@transaction.atomic
def person_fact_record(
    *,
    person: Person,
    kind: str,
    start_date: dt.date,
    evidence: str,
    actor: Any,
    end_date: dt.date | None = None,
    quantity=None,
    level: str = "",
    source: str = PersonFactSource.OFFICER,
    source_name: str = "窗口",
) -> PersonFact:
    """Record a fact with its evidence (material name and number); no evidence, no fact."""
    require(kind in PersonFactKind.values, "未知的事实类别", "unknown fact kind", "bad_fact_kind")
    require(
        bool(evidence and evidence.strip()),
        "须提供证明材料（名称及编号）",
        "evidence (document name and number) is required",
        "evidence_required",
    )
    require(source in PersonFactSource.values, "未知的来源", "unknown source", "bad_source")
    require(
        end_date is None or end_date >= start_date,
        "终止日期早于起始日期",
        "the end date is before the start",
        "date_order",
    )
    require(
        quantity is None or quantity >= 0,
        "数量不能为负",
        "quantity must not be negative",
        "bad_quantity",
    )
    person = _lock_person(person, actor=actor)
    with history_context(actor=actor, reason=f"录入{PersonFactKind(kind).label}"):
        fact = PersonFact.objects.create(
            person=person,
            kind=kind,
            start_date=start_date,
            end_date=end_date,
            quantity=quantity,
            level=level.strip(),
            evidence=evidence.strip(),
            source=source,
            source_name=source_name.strip() or "窗口",
            recorded_by=officer_or_none(actor),
        )
        _applications_rejudge(person)
    return fact


def _applications_rejudge(person: Person) -> None:
    """New or retracted evidence: judge again, on today, the waiting applications it bears on
    (the person's own, or where they are the sponsor), so the queue shows the current verdict.
    The verdict recorded at submission stays as it was."""
    waiting = PermitApplication.objects.filter(
        Q(person=person) | Q(sponsor=person), status=ApplicationStatus.SUBMITTED
    ).select_related("person", "sponsor", "proxy")
    for application in waiting:
        application.eligible_now = selectors.permit_eligibility(
            person=application.person,
            on=today(),
            sponsor=application.sponsor,
            proxy=application.proxy,
        ).eligible
        application.save(update_fields=["eligible_now"])


@transaction.atomic
def person_fact_retract(*, fact: PersonFact, actor: Any, reason: str) -> PersonFact:
    """A wrong or superseded fact stops counting; the row stays, with why."""
    require(
        bool(reason and reason.strip()), "必须填写原因", "a reason is required", "reason_required"
    )
    fact = PersonFact.objects.select_for_update().get(pk=fact.pk)
    actor_require_within(actor, fact)
    require(fact.retracted_at is None, "该事实已撤销", "the fact is already retracted", "retracted")
    with history_context(actor=actor, reason=reason):
        fact.retracted_at = timezone.now()
        fact.retract_reason = reason.strip()
        fact.save(update_fields=["retracted_at", "retract_reason", "changed_at"])
        _applications_rejudge(fact.person)
    return fact


# -- applications -----------------------------------------------------------------------------


@transaction.atomic
def permit_application_submit(
    *,
    person: Person,
    actor: Any,
    on: dt.date | None = None,
    proxy: Person | None = None,
    sponsor: Person | None = None,
) -> PermitApplication:
    """居住证申领 on the person's open registration; eligibility is evaluated and kept.

    An ineligible application is accepted (the officer sees why) but cannot be issued.
    """
    on = on or today()
    person = _lock_person(person, actor=actor)
    check_date(on)
    registration = selectors.registration_open(person=person)
    if registration is None:
        raise Conflict(
            "此人无有效居住登记，请先办理居住登记",
            "no open residence registration; register residence first",
            code="no_registration",
        )
    if selectors.permit_live_for(person=person) is not None:
        raise Conflict(
            "此人已持有居住证", "the person already holds a permit", code="permit_exists"
        )
    require(
        proxy is None or proxy.pk != person.pk,
        "代办人不能是申请人本人",
        "the proxy cannot be the applicant",
        "bad_proxy",
    )
    require(
        sponsor is None or sponsor.pk != person.pk,
        "共同居住的家庭成员不能是申请人本人",
        "the sponsor cannot be the applicant",
        "bad_sponsor",
    )
    eligibility = selectors.permit_eligibility(person=person, on=on, sponsor=sponsor, proxy=proxy)
    with history_context(actor=actor, reason="居住证申领"):
        try:
            with transaction.atomic():
                return PermitApplication.objects.create(
                    person=person,
                    registration=registration,
                    proxy=proxy,
                    sponsor=sponsor,
                    submitted_on=on,
                    eligibility=eligibility.as_dict(),
                    eligible_now=eligibility.eligible,
                )
        except IntegrityError as exc:
            raise Conflict(
                "此人已有待审核的申请", "an application is already pending", code="pending_exists"
            ) from exc


def _lock_application(application: PermitApplication, *, actor: Any) -> PermitApplication:
    _lock_holder_first(PermitApplication, application.pk)
    locked = (
        PermitApplication.objects.select_for_update(of=("self",))
        .select_related("person", "registration")
        .get(pk=application.pk)
    )
    actor_require_within(actor, locked)
    return locked


def permit_number_allocate(*, county_code: str, year: int) -> str:
    """The next permit number of this county and year (see rules.permit_number_format).

    One UPSERT increments the counter row, which PostgreSQL row-locks until the transaction
    ends: simultaneous issues queue on it and never draw the same serial. Must run inside the
    transaction that stores the permit.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO residence_permit_permitnumbercounter (county_code, year, last_serial)"
            " VALUES (%s, %s, 1) ON CONFLICT (county_code, year)"
            " DO UPDATE SET last_serial = residence_permit_permitnumbercounter.last_serial + 1"
            " RETURNING last_serial",
            [county_code, year],
        )
        serial = cursor.fetchone()[0]
    if serial >= 10**rules.SERIAL_DIGITS:
        raise Conflict(
            "本年度该县级区域居住证序号已用尽",
            "no permit serial left for this county and year",
            code="serial_exhausted",
        )
    return rules.permit_number_format(county_code, year, serial)


@transaction.atomic
def permit_issue(
    *, application: PermitApplication, actor: Any, on: dt.date | None = None
) -> ResidencePermit:
    """Issue the permit of a waiting application (eligibility is checked again on ``on``).

    Two officers issuing at once: the second waits for the first's row lock, then finds the
    application issued and is told so.
    """
    on = on or today()
    app = _lock_application(application, actor=actor)
    transit(
        app,
        "mark_issued",
        "申请不在待审核状态，不能发证（当前状态：{status}）",
        "application is not waiting (status is {value})",
    )
    person = _lock_person(app.person, actor=actor)
    check_date(on, not_before=app.submitted_on)
    eligibility = selectors.permit_eligibility(
        person=person, on=on, sponsor=app.sponsor, proxy=app.proxy
    )
    if not eligibility.eligible:
        unmet = "、".join(c.label for c in eligibility.blocking)
        raise DomainError(
            f"不符合申领条件：{unmet}", "the applicant is not eligible", code="not_eligible"
        )
    registration = selectors.registration_open(person=person)
    require(
        registration is not None and registration.pk == app.registration_id,
        "居住登记已变更，请重新申请",
        "the residence registration changed; apply again",
        "stale_registration",
    )
    if selectors.permit_live_for(person=person) is not None:
        raise Conflict(
            "此人已持有居住证", "the person already holds a permit", code="permit_exists"
        )
    number = permit_number_allocate(county_code=registration.region_id[:6], year=on.year)
    with history_context(actor=actor, reason="签发居住证"):
        app.eligibility = eligibility.as_dict()
        app.decided_by = officer_or_none(actor)
        app.decided_at = timezone.now()
        app.save(update_fields=["status", "eligibility", "decided_by", "decided_at"])
        permit = ResidencePermit.objects.create(
            number=number,
            person=person,
            application=app,
            registration=registration,
            address=registration.address,
            region=registration.region,
            issue_date=on,
            valid_until=rules.add_years(on, rules.VALIDITY_YEARS),
            next_endorsement_due=rules.add_years(on, 1),
            # Residence years count from the unbroken registration, not from the card.
            continuous_since=selectors.residence_continuous_since(person=person, on=on),
        )
        _event(permit, PermitEventKind.ISSUE, on, actor, "签发")
    return permit


@transaction.atomic
def permit_application_reject(
    *, application: PermitApplication, actor: Any, reason: str
) -> PermitApplication:
    require(
        bool(reason and reason.strip()),
        "必须填写不予办理的理由",
        "a reason is required",
        "reason_required",
    )
    app = _lock_application(application, actor=actor)
    transit(
        app,
        "mark_rejected",
        "申请不在待审核状态（当前状态：{status}）",
        "application is not waiting (status is {value})",
    )
    with history_context(actor=actor, reason=reason):
        app.decided_by = officer_or_none(actor)
        app.decided_at = timezone.now()
        app.decision_reason = reason.strip()
        app.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
    return app


@transaction.atomic
def permit_application_withdraw(
    *, application: PermitApplication, actor: Any, reason: str = "申请人撤回"
) -> PermitApplication:
    app = _lock_application(application, actor=actor)
    transit(
        app,
        "mark_withdrawn",
        "申请不在待审核状态（当前状态：{status}）",
        "application is not waiting (status is {value})",
    )
    with history_context(actor=actor, reason=reason):
        app.decided_at = timezone.now()
        app.decision_reason = reason.strip()
        app.save(update_fields=["status", "decided_at", "decision_reason"])
    return app


# -- the permit's life -------------------------------------------------------------------------


@transaction.atomic
def permit_endorse(
    *, permit: ResidencePermit, actor: Any, on: dt.date | None = None
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
    *, permit: ResidencePermit, on: dt.date, actor: Any = None
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
    *, permit: ResidencePermit, on: dt.date, actor: Any = None
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
    *, permit: ResidencePermit, actor: Any, on: dt.date | None = None
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
    actor: Any,
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
    *, permit: ResidencePermit, actor: Any, reason: str = "遗失补领", on: dt.date | None = None
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


def _cancel(permit: ResidencePermit, on: dt.date, why: str, actor: Any, reason: str):
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
    *, person: Person, actor: Any, on: dt.date | None = None, reason: str = "在本市落户"
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
    *, permit: ResidencePermit, actor: Any, on: dt.date | None = None, reason: str = "离开居住地"
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
    *, permit: ResidencePermit, on: dt.date, actor: Any = None
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
