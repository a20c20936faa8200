"""The application workflow: drafts, the window, acceptance, review, approval, the
准迁证, completion in the registry, rejection, withdrawal and expiry.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db import transaction

from population.actors import Actor, officer_or_none, require_officer
from population.clock import today
from population.codes import Relation
from population.errors import (
    Conflict,
    DomainError,
    NotFound,
    check_date,
    require,
    require_citizen_id,
)
from population.jurisdiction import actor_require_within
from population.models import Person
from population.services import history_context
from population.transitions import transit
from registry import services as registry
from registry.locks import lock_persons_then_households
from registry.models import HouseholdKind
from registry.selectors import household_get, household_head
from residence_permit.services import permit_cancel_on_settlement

if TYPE_CHECKING:
    from registry.models import Household
from settlement.conditions import MET
from settlement.facts import facts_validate
from settlement.models import (
    OPEN_STATUSES,
    Application,
    ApplicationMember,
    ApplicationTransition,
    PermitCounter,
    Status,
    Target,
)
from settlement.rules import MEMBER_KINDS, ruleset_in_force
from settlement.services.eligibility import application_eligibility
from settlement.workdays import add_working_days

TARGET_KINDS: dict[str, str] = {
    Target.RESIDENCE: HouseholdKind.FAMILY,
    Target.EMPLOYER_COLLECTIVE: HouseholdKind.UNIT_COLLECTIVE,
    Target.SCHOOL_COLLECTIVE: HouseholdKind.UNIT_COLLECTIVE,
    Target.PUBLIC_COLLECTIVE: HouseholdKind.PUBLIC_COLLECTIVE,
    Target.TALENT_COLLECTIVE: HouseholdKind.TALENT_COLLECTIVE,
}
TARGET_ZH = dict(Target.choices)
RELATION_ZH = dict(Relation.choices)


class RelationError(DomainError):
    """A relation to the head that cannot stand; ``citizen_id`` names whose (the form puts the
    error on that person's field)."""

    def __init__(self, message_zh: str, message_en: str, *, code: str, citizen_id: str) -> None:
        super().__init__(message_zh, message_en, code=code)
        self.citizen_id = citizen_id


# -- the workflow -----------------------------------------------------------------------------


def _lock(application: Application, *, actor: Actor) -> Application:
    """Lock the application; refuse one outside the acting user's area."""
    locked = (
        Application.objects.select_for_update().select_related("rule_set").get(pk=application.pk)
    )
    actor_require_within(actor, locked)
    return locked


def _deadline(app: Application, on: dt.date) -> dt.date | None:
    days = app.rule_set.content.get("procedure", {}).get("deadlines", {}).get(app.status)
    return add_working_days(on, days) if days else None


def _advance(
    app: Application,
    method: str,
    *,
    actor: Actor,
    comment: str = "",
    on: dt.date | None = None,
    details: dict | None = None,
    fields: tuple[str, ...] = (),
) -> Application:
    """One workflow step: the transition (``transit``), the next deadline, and the
    ``ApplicationTransition`` row saying who took it and why."""
    source = app.status
    transit(
        app,
        method,
        "申请当前状态为“{status}”，不能办理此操作（可能已被他人处理）",
        "the application is {value}; this step is not allowed (someone may have acted)",
    )
    app.step_due = _deadline(app, on or today())
    with history_context(actor=actor, reason=comment or app.status):
        app.save(update_fields=["status", "step_due", *fields])
        ApplicationTransition.objects.create(
            application=app,
            from_status=source,
            to_status=app.status,
            officer=officer_or_none(actor),
            comment=comment,
            details=details or {},
        )
    return app


def _household_check(*, target: str, household: Household, city_code: str) -> None:
    """The destination matches the target's household kind and is an open household of the
    city."""
    require(
        target in TARGET_KINDS and household.kind == TARGET_KINDS[target],
        f"迁入户的户别与落户去向“{TARGET_ZH.get(target, target)}”不符",
        "the household's kind does not match the application's target",
        "bad_household",
    )
    require(
        household.region_id[:4] == city_code[:4] and household.closed_on is None,
        "迁入户须为本市未销户的户",
        "the household must be an open household of the city",
        "bad_household",
    )


def household_head_name(household: Household) -> str | None:
    """The name of the household's current head (None when it has none)."""
    head = household_head(household=household)
    return head.person.name if head is not None else None


def _relations_check(*, household: Household, people: list[tuple[str, str]]) -> None:
    """Each person's relation to the head of the destination, as ``(citizen_id, code)``.

    A family household ends with exactly one head: none of the newcomers is 户主 when it has
    one, exactly one is when it has none. Collective households have no head (everyone is
    recorded as 非亲属), so their relations are not checked.
    """
    for citizen_id, code in people:
        if code not in Relation.values:
            raise RelationError(
                "请选择与户主关系",
                "choose the relation to the head",
                code="relation_required" if not code else "bad_relation",
                citizen_id=citizen_id,
            )
    if household.kind != HouseholdKind.FAMILY:
        return
    heads = [cid for cid, code in people if code == Relation.HEAD]
    head = household_head(household=household)
    if head is not None and heads and head.person.citizen_id not in heads:
        raise RelationError(
            f"迁入户{household.number}已有户主{head.person.name}，请选择此人与户主{head.person.name}的关系",
            f"household {household.number} already has a head; choose the relation to them",
            code="head_exists",
            citizen_id=heads[0],
        )
    if len(heads) > 1:
        raise RelationError(
            "一户只能有一名户主",
            "a household has one head only",
            code="second_head",
            citizen_id=heads[1],
        )
    if head is None and not heads:
        raise RelationError(
            f"迁入户{household.number}尚无户主，申请人须为户主",
            f"household {household.number} has no head; the applicant must be the head",
            code="head_required",
            citizen_id=people[0][0],
        )


def _relations_apply(app: Application, relations: dict[str, str] | None) -> None:
    """Store corrected relations (citizen ID → code) on the application and its members."""
    if not relations:
        return
    known = {app.citizen_id, *app.members.values_list("citizen_id", flat=True)}
    unknown = set(relations) - known
    require(
        not unknown,
        "与户主关系只能为本申请的申请人和随迁人员填写",
        "relations may be given only for the applicant and the members",
        "bad_relation",
    )
    if app.citizen_id in relations and relations[app.citizen_id] != app.relation:
        app.relation = relations[app.citizen_id]
        app.save(update_fields=["relation"])
    for member in app.members.select_for_update().order_by("pk"):
        code = relations.get(member.citizen_id)
        if code is not None and code != member.relation:
            if code == Relation.HEAD:
                raise RelationError(
                    "随迁人员不能为户主",
                    "a member cannot be the head",
                    code="bad_relation",
                    citizen_id=member.citizen_id,
                )
            member.relation = code
            member.save(update_fields=["relation"])


def _people(app: Application) -> list[tuple[str, str]]:
    return [
        (app.citizen_id, app.relation),
        *app.members.order_by("pk").values_list("citizen_id", "relation"),
    ]


@transaction.atomic
def application_create(
    *,
    city_code: str,
    on: dt.date,
    channel: str,
    target: str,
    citizen_id: str,
    name: str,
    evidence: dict | None = None,
    members: list[dict] | None = None,
    actor: Actor,
    relation: str = Relation.HEAD,
    household: Household | None = None,
) -> Application:
    """A draft application under the rule set in force on ``on``.

    ``members``: ``[{"citizen_id", "name", "kind", "relation"}]`` (kind from the channel's
    ``members``; relation a GB/T 4761 code to the head of the target household).
    ``household``: the destination chosen at the window (the transfer permit may name another);
    the relations are checked against it: one head at most, none if it already has one.
    """
    rule_set = ruleset_in_force(city_code=city_code, on=on)
    if rule_set is None:
        raise NotFound(
            f"{city_code} 在 {on} 没有生效的落户政策",
            f"no settlement rule set of {city_code} is in force on {on}",
            code="no_rules",
        )
    spec = rule_set.channel(channel)
    require(
        spec is not None,
        f"{rule_set.city}现行政策没有“{channel}”落户渠道",
        f"the rule set in force has no channel {channel!r}",
        "unknown_channel",
    )
    require(
        target in spec["targets"],
        "该渠道的落户去向只能是" + "、".join(TARGET_ZH.get(t, t) for t in spec["targets"]),
        f"this channel settles into {spec['targets']} only",
        "bad_target",
    )
    require(bool(name.strip()), "姓名不能为空", "name must not be empty", "invalid_name")
    applicant_id = str(require_citizen_id(citizen_id))
    if relation not in Relation.values:
        raise RelationError(
            "申请人与户主关系代码无效",
            "bad relation code of the applicant",
            code="bad_relation",
            citizen_id=applicant_id,
        )
    evidence = facts_validate(evidence or {})
    require(
        not Application.objects.filter(citizen_id=applicant_id, status__in=OPEN_STATUSES).exists(),
        "此人已有办理中的落户申请",
        "this person already has an open settlement application",
        "already_open",
    )
    seen = {applicant_id}
    rows = []
    allowed = spec.get("members", [])
    for m in members or []:
        require(
            m.get("kind") in allowed,
            f"该渠道不允许随迁“{MEMBER_KINDS.get(str(m.get('kind')), m.get('kind'))}”（允许："
            + ("、".join(MEMBER_KINDS[k] for k in allowed) or "无随迁人员")
            + "）",
            f"this channel allows no accompanying {m.get('kind')!r}",
            "bad_member",
        )
        require(bool((m.get("name") or "").strip()), "姓名不能为空", "name empty", "invalid_name")
        member_id = str(require_citizen_id(m.get("citizen_id") or ""))
        if m.get("relation") not in Relation.values or m.get("relation") == Relation.HEAD:
            raise RelationError(
                "随迁人员与户主关系代码无效（随迁人员不能为户主）",
                "bad relation code of a member (a member cannot be the head)",
                code="bad_relation",
                citizen_id=member_id,
            )
        require(member_id not in seen, "随迁人员重复", "a member appears twice", "duplicate_member")
        seen.add(member_id)
        rows.append((member_id, m))
    if household is not None:
        household = household_get(pk=household.pk)
        _household_check(target=target, household=household, city_code=rule_set.city_code)
        _relations_check(
            household=household,
            people=[(applicant_id, relation), *((mid, m["relation"]) for mid, m in rows)],
        )
    with history_context(actor=actor, reason="落户申请"):
        app = Application.objects.create(
            rule_set=rule_set,
            channel=channel,
            target=target,
            citizen_id=applicant_id,
            name=name.strip(),
            relation=relation,
            evidence=evidence,
            household=household,
        )
        for member_id, m in rows:
            ApplicationMember.objects.create(
                application=app,
                citizen_id=member_id,
                name=m["name"].strip(),
                kind=m["kind"],
                relation=m["relation"],
            )
    return app


@transaction.atomic
def application_window_open(
    *,
    city_code: str,
    on: dt.date,
    channel: str,
    target: str,
    citizen_id: str,
    name: str,
    relation: str,
    materials: list[str],
    actor: Actor,
    evidence: dict | None = None,
    members: list[dict] | None = None,
    household: Household | None = None,
    new_household: dict | None = None,
) -> Application:
    """窗口受理: the application as the window takes it in, created and submitted at once.

    The destination is an existing ``household`` or a ``new_household``
    (``{"kind", "address", "region"}``, 立户 through the registry) created in the same
    transaction; ``materials`` lists the documents received (at least one). Any refusal leaves
    nothing behind, not even the new household.
    """
    require_officer(actor)
    # The destination first: nothing is created (nor told) for a household outside the area.
    actor_require_within(
        actor, household, regions=[new_household.get("region")] if new_household else []
    )
    check_date(on)
    items = [m.strip() for m in materials or [] if isinstance(m, str) and m.strip()]
    require(
        bool(items), "请填写收到的申请材料", "list the documents received", "materials_required"
    )
    require(
        (household is None) != (new_household is None),
        "请选择迁入户或新立户（二选一）",
        "choose an existing household or a new one (exactly one)",
        "household_required",
    )
    if new_household is not None:
        household = registry.household_create(
            kind=new_household["kind"],
            address=new_household.get("address") or "",
            region=new_household["region"],
            actor=actor,
            reason="落户窗口受理：新立户",
        )
    app = application_create(
        city_code=city_code,
        on=on,
        channel=channel,
        target=target,
        citizen_id=citizen_id,
        name=name,
        evidence=evidence,
        members=members,
        actor=actor,
        relation=relation,
        household=household,
    )
    return application_submit(
        application=app, actor=actor, on=on, comment="窗口受理", materials=items
    )


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
