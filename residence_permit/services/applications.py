"""Permit applications: submitted, issued (with the permit number), rejected, withdrawn."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from population.actors import Actor, officer_or_none
from population.clock import today
from population.errors import Conflict, DomainError, check_date, require
from population.jurisdiction import actor_require_within
from population.models import Person
from population.services import history_context
from population.transitions import transit
from residence_permit import rules, selectors
from residence_permit.models import PermitApplication, PermitEventKind, ResidencePermit
from residence_permit.services._common import _event, _lock_holder_first, _lock_person

# -- applications -----------------------------------------------------------------------------


@transaction.atomic
def permit_application_submit(
    *,
    person: Person,
    actor: Actor,
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


def _lock_application(application: PermitApplication, *, actor: Actor) -> PermitApplication:
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
    *, application: PermitApplication, actor: Actor, on: dt.date | None = None
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
    if registration is None or registration.pk != app.registration_id:
        raise DomainError(
            "居住登记已变更，请重新申请",
            "the residence registration changed; apply again",
            code="stale_registration",
        )
    # Residence years count from the unbroken registration, not from the card.
    continuous_since = selectors.residence_continuous_since(person=person, on=on)
    if continuous_since is None:  # the open registration begins after ``on``
        raise DomainError(
            "签发日期早于居住登记", "the issue date is before the registration", code="date_order"
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
            continuous_since=continuous_since,
        )
        _event(permit, PermitEventKind.ISSUE, on, actor, "签发")
    return permit


@transaction.atomic
def permit_application_reject(
    *, application: PermitApplication, actor: Actor, reason: str
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
    *, application: PermitApplication, actor: Actor, reason: str = "申请人撤回"
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
