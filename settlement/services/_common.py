"""What the intake and the later steps of an application share: targets, the row lock, the
step record, household and relation checks."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from population.actors import Actor, officer_or_none
from population.clock import today
from population.codes import Relation
from population.errors import DomainError, require
from population.jurisdiction import actor_require_within
from population.services import history_context
from population.transitions import transit
from registry.models import HouseholdKind
from registry.selectors import household_head

if TYPE_CHECKING:
    from registry.models import Household
from settlement.models import (
    Application,
    ApplicationTransition,
    Target,
)
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
