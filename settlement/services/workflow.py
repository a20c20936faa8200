"""The application workflow after intake: submission, acceptance, review, approval, the
准迁证, completion in the registry, rejection, withdrawal and expiry.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db import transaction

from population.actors import Actor, require_officer
from population.clock import today
from population.codes import Relation
from population.errors import Conflict, DomainError, require
from population.jurisdiction import actor_require_within
from population.models import Person
from registry import services as registry
from registry.locks import lock_persons_then_households
from registry.models import HouseholdKind
from registry.selectors import household_get
from residence_permit.services import permit_cancel_on_settlement

if TYPE_CHECKING:
    from registry.models import Household
from settlement.conditions import MET
from settlement.facts import facts_validate
from settlement.models import (
    Application,
    PermitCounter,
    Status,
)
from settlement.rules import ruleset_in_force
from settlement.services._common import (
    _advance,
    _household_check,
    _lock,
    _people,
    _relations_apply,
    _relations_check,
)
from settlement.services.eligibility import application_eligibility


@transaction.atomic
def application_submit(
    *,
    application: Application,
    actor: Actor,
    on: dt.date | None = None,
    evidence: dict | None = None,
    comment: str = "",
    materials: list[str] | None = None,
) -> Application:
    """Submit a draft or resubmit a returned application (with corrected evidence).

    The rule set in force on the submission date judges it. ``materials``: the documents the
    window received, kept on the transition.
    """
    on = on or today()
    app = _lock(application, actor=actor)
    rule_set = ruleset_in_force(city_code=app.rule_set.city_code, on=on)
    require(
        rule_set is not None and rule_set.channel(app.channel) is not None,
        f"{on} 生效的政策中没有该落户渠道",
        f"no rule set in force on {on} has this channel",
        "channel_not_in_force",
    )
    app.rule_set = rule_set
    if evidence is not None:
        app.evidence = facts_validate(evidence)
    app.submitted_on = on
    app.missing_items = []
    app.eligibility = {}
    _advance(
        app,
        "mark_submitted",
        actor=actor,
        comment=comment,
        on=on,
        details={"materials": materials} if materials else None,
        fields=("rule_set", "evidence", "submitted_on", "missing_items", "eligibility"),
    )
    app.eligibility = application_eligibility(application=app)
    app.save(update_fields=["eligibility"])
    return app


@transaction.atomic
def application_accept(
    *, application: Application, actor: Actor, comment: str = "", on: dt.date | None = None
) -> Application:
    """受理."""
    app = _lock(application, actor=actor)
    app.accepted_by = require_officer(actor)
    return _advance(
        app, "mark_accepted", actor=actor, comment=comment, fields=("accepted_by",), on=on
    )


@transaction.atomic
def application_review_start(
    *, application: Application, actor: Actor, comment: str = "", on: dt.date | None = None
) -> Application:
    """审核/调查."""
    app = _lock(application, actor=actor)
    require_officer(actor)
    return _advance(app, "mark_under_review", actor=actor, comment=comment, on=on)


@transaction.atomic
def application_return(
    *,
    application: Application,
    actor: Actor,
    missing: list[str],
    comment: str = "",
    on: dt.date | None = None,
) -> Application:
    """退回补正, listing what is missing."""
    items = [m.strip() for m in missing or [] if isinstance(m, str) and m.strip()]
    require(bool(items), "须列明需补正的材料", "list what is missing", "missing_required")
    app = _lock(application, actor=actor)
    require_officer(actor)
    app.missing_items = items
    return _advance(
        app,
        "mark_returned",
        actor=actor,
        comment=comment,
        details={"missing": items},
        fields=("missing_items",),
        on=on,
    )


@transaction.atomic
def application_approve(
    *, application: Application, actor: Actor, comment: str = "", on: dt.date | None = None
) -> Application:
    """审批通过: by someone other than the acceptor, and only on met conditions."""
    app = _lock(application, actor=actor)
    officer = require_officer(actor)
    require(
        officer.has_perm("settlement.decide_application"),
        "无审批落户申请的权限",
        "no permission to decide settlement applications",
        "forbidden",
    )
    if app.status == Status.UNDER_REVIEW:
        require(
            app.accepted_by_id != officer.pk,
            "受理人不能审批同一申请",
            "the officer who accepted cannot approve",
            "acceptor_cannot_approve",
        )
        verdict = application_eligibility(application=app)
        require(
            verdict["status"] == MET,
            "条件未全部满足：" + "；".join(verdict["unmet"] + verdict["missing"]),
            "conditions not all met: " + "; ".join(verdict["unmet"] + verdict["missing"]),
            "not_eligible",
        )
        app.eligibility = verdict
    app.approved_by = officer
    return _advance(
        app,
        "mark_approved",
        actor=actor,
        comment=comment,
        fields=("approved_by", "eligibility"),
        on=on,
    )


def _permit_number(city_code: str, year: int) -> str:
    counter, _ = PermitCounter.objects.get_or_create(city_code=city_code, year=year)
    counter = PermitCounter.objects.select_for_update().get(pk=counter.pk)
    counter.last += 1
    counter.save(update_fields=["last"])
    return f"准迁{city_code}{year}{counter.last:06d}"


@transaction.atomic
def application_issue_permit(
    *,
    application: Application,
    household: Household | None = None,
    actor: Actor,
    on: dt.date | None = None,
    comment: str = "",
    relations: dict[str, str] | None = None,
) -> Application:
    """签发准迁证: numbered, valid for the rule set's days, naming the destination household
    (the one chosen at the window unless another is given). ``relations`` (citizen ID → GB/T
    4761 code) corrects the relations to that household's head; they are checked against it."""
    on = on or today()
    app = _lock(application, actor=actor)
    require_officer(actor)
    household_id = household.pk if household is not None else app.household_id
    if household_id is None:
        raise DomainError(
            "请选择迁入户", "choose the destination household", code="household_required"
        )
    household = household_get(pk=household_id)
    actor_require_within(actor, household)
    _household_check(target=app.target, household=household, city_code=app.rule_set.city_code)
    if app.status == Status.APPROVED:
        _relations_apply(app, relations)
        _relations_check(household=household, people=_people(app))
        app.permit_number = _permit_number(app.rule_set.city_code, on.year)
        days = app.rule_set.content["procedure"]["transfer_permit_valid_days"]
        app.permit_valid_until = on + dt.timedelta(days=days)
        app.household = household
    return _advance(
        app,
        "mark_permit_issued",
        actor=actor,
        comment=comment,
        on=on,
        details={"permit_number": app.permit_number},
        fields=("permit_number", "permit_valid_until", "household"),
    )


def _settle_one(
    *,
    app: Application,
    household: Household,
    citizen_id: str,
    name: str,
    relation: str,
    on: dt.date,
    actor: Actor,
) -> Person:
    relation_here = relation if household.kind == HouseholdKind.FAMILY else Relation.NON_RELATIVE
    existing = Person.objects.filter(citizen_id=citizen_id).first()
    if existing is not None and household.kind != HouseholdKind.FAMILY:
        registry.settle_into_collective(
            person=existing,
            from_household=None,
            to_household=household,
            on=on,
            actor=actor,
            reason=f"落户 {app.permit_number}",
        )
        person = existing
    else:
        person = registry.move_in(
            citizen_id=citizen_id,
            name=name,
            household=household,
            relation=relation_here,
            transfer_permit_number=app.permit_number,
            on=on,
            actor=actor,
            reason=f"落户 {app.permit_number}",
        )
    permit_cancel_on_settlement(person=person, actor=actor, on=on)
    return person


@transaction.atomic
def application_complete(
    *,
    application: Application,
    actor: Actor,
    on: dt.date | None = None,
    comment: str = "",
    relations: dict[str, str] | None = None,
) -> Application:
    """落户: the applicant and every member move in; their residence permits end. All or none.

    ``relations`` (citizen ID → GB/T 4761 code) corrects the relations first (the household may
    have gained a head since the permit); they are checked before anyone moves.
    """
    on = on or today()
    app = _lock(application, actor=actor)
    require_officer(actor)
    if app.status == Status.PERMIT_ISSUED:
        valid_until, household_id = app.permit_valid_until, app.household_id
        # Both are set when the permit is issued (application_permit_issue; the validity also
        # by the settle_permit_numbered constraint).
        if valid_until is None or household_id is None:
            raise Conflict(
                "准迁证缺少有效期或迁入户",
                "the transfer permit has no validity or household",
                code="permit_incomplete",
            )
        require(
            on <= valid_until,
            f"准迁证已于 {valid_until} 过期",
            f"the transfer permit expired on {valid_until}",
            "permit_expired",
        )
        _relations_apply(app, relations)
        people = _people(app)
        # Everyone already on record, then the household, before anyone moves: the registry's
        # order (registry.locks). Settling one by one would hold the household from the first
        # move-in on while locking the next person, and a registry event holding that person
        # and waiting for the household would deadlock with it.
        _, households = lock_persons_then_households(
            Person.objects.filter(citizen_id__in=[cid for cid, _ in people]).values_list(
                "pk", flat=True
            ),
            [household_id],
        )
        household = app.household = households[household_id]
        _relations_check(household=household, people=people)
        app.person = _settle_one(
            app=app,
            household=household,
            citizen_id=app.citizen_id,
            name=app.name,
            relation=app.relation,
            on=on,
            actor=actor,
        )
        for member in app.members.select_for_update().order_by("pk"):
            member.person = _settle_one(
                app=app,
                household=household,
                citizen_id=member.citizen_id,
                name=member.name,
                relation=member.relation,
                on=on,
                actor=actor,
            )
            member.save(update_fields=["person"])
        app.completed_on = on
    return _advance(
        app,
        "mark_completed",
        actor=actor,
        comment=comment,
        on=on,
        fields=("person", "completed_on"),
    )


@transaction.atomic
def application_reject(
    *, application: Application, actor: Actor, reason: str, on: dt.date | None = None
) -> Application:
    """不予落户, with the reason the applicant is told."""
    require(
        bool((reason or "").strip()),
        "须填写不予落户理由",
        "a reason is required",
        "reason_required",
    )
    app = _lock(application, actor=actor)
    require_officer(actor)
    app.rejection_reason = reason.strip()[:300]
    return _advance(
        app,
        "mark_rejected",
        actor=actor,
        comment=reason.strip(),
        fields=("rejection_reason",),
        on=on,
    )


@transaction.atomic
def application_withdraw(
    *, application: Application, actor: Actor, comment: str = "", on: dt.date | None = None
) -> Application:
    """撤回 (by the applicant, recorded by an officer)."""
    app = _lock(application, actor=actor)
    return _advance(app, "mark_withdrawn", actor=actor, comment=comment, on=on)


@transaction.atomic
def application_expire(*, application: Application, on: dt.date, actor: Actor = None) -> bool:
    """An issued transfer permit unused after its validity: expired. False if nothing to do."""
    app = _lock(application, actor=actor)
    valid_until = app.permit_valid_until
    if app.status != Status.PERMIT_ISSUED or valid_until is None or valid_until >= on:
        return False
    _advance(app, "mark_expired", actor=actor, comment="准迁证逾期未使用", on=on)
    return True


def permits_expire_due(*, on: dt.date | None = None) -> int:
    """Expire every unused transfer permit past its validity; a rerun changes nothing."""
    on = on or today()
    due = Application.objects.filter(
        status=Status.PERMIT_ISSUED, permit_valid_until__lt=on
    ).values_list("pk", flat=True)
    return sum(application_expire(application=Application(pk=pk), on=on) for pk in list(due))
