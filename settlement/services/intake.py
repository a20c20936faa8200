"""Starting an application: an officer's draft, or one opened at the window in one step."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db import transaction

from population.actors import Actor, require_officer
from population.codes import Relation
from population.errors import check_date, require, require_citizen_id
from population.jurisdiction import actor_require_within
from population.services import history_context
from registry import services as registry
from registry.selectors import household_get

if TYPE_CHECKING:
    from registry.models import Household
from settlement.facts import facts_validate
from settlement.models import (
    OPEN_STATUSES,
    Application,
    ApplicationMember,
)
from settlement.rules import MEMBER_KINDS, ruleset_required
from settlement.services._common import (
    TARGET_ZH,
    RelationError,
    _household_check,
    _relations_check,
)
from settlement.services.workflow import application_submit


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
    rule_set = ruleset_required(city_code=city_code, on=on)
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
