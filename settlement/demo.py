"""The settlement part of the demo city (``seed_demo``): a demonstration rule set and a few
applications in each workflow state.

The demo city's real rule set (清远 2015) ended in 2020, so nothing could be submitted today.
The demonstration rule set is a copy of the city's last real one whose window starts the day
after it ended and stays open; it is marked ``"demo": true`` in its data, every screen and
every pre-check answer says 演示, and only this loader stores one (a rule file marked demo is
refused by ``ruleset_load_file``). Everything here is deterministic and a second run changes
nothing.
"""

from __future__ import annotations

import datetime as dt
import json

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from population import roles
from population.models import OfficerRegion, Person, PersonStatus, Region, RegionLevel
from population.regions import DEMO_CITY
from registry.models import HouseholdKind
from registry.selectors import household_heads
from settlement import services
from settlement.amendments import AMENDMENTS_DIR, amendment_store
from settlement.models import Application, RuleSet, Status
from settlement.rules import rulesets_load_shipped

DEMO_STAFF = (
    ("demo_clerk", "演示受理民警", roles.REGISTRATION_OFFICER),
    ("demo_chief", "演示审批主管", roles.SUPERVISOR),
)
KINSHIP = {
    "sponsor_relation_code": "10",  # GB/T 4761 配偶
    "sponsor_hukou_in_city": True,
    "lives_with_sponsor": True,
    "destination_urban_rural_code": "111",
}
# The state each demo application is brought to, in order (a few per state).
PLAN = (
    Status.DRAFT,
    Status.SUBMITTED,
    Status.SUBMITTED,
    Status.ACCEPTED,
    Status.UNDER_REVIEW,
    Status.UNDER_REVIEW,
    Status.RETURNED,
    Status.APPROVED,
    Status.PERMIT_ISSUED,
    Status.COMPLETED,
    Status.COMPLETED,
    Status.REJECTED,
    Status.WITHDRAWN,
    Status.EXPIRED,
)


def demo_ruleset_ensure(*, city_code: str) -> RuleSet | None:
    """The city's demonstration rule set (stored once); None if the city has no rule set.

    Made by the demonstration amendment in ``settlement/data/amendments`` (marked ``demo``,
    an extension of the city's last real rule set from the day after it ended, open-ended):
    the first user of amendments. A city whose real rule set is still in force, or that has
    no demonstration amendment, gets its last real rule set.
    """
    real = next(
        (
            r
            for r in RuleSet.objects.filter(city_code=city_code).order_by("-effective_from")
            if not r.is_demo
        ),
        None,
    )
    if real is None or real.effective_to is None:
        return real
    for path in sorted(AMENDMENTS_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("demo") and (data["city_code"], data["base_version"]) == (
            city_code,
            real.version,
        ):
            return amendment_store(
                amendment=data, source_file=f"演示（{path.name}）", allow_demo=True
            )[0]
    return real


def _staff(city: Region) -> dict[str, object]:
    """The demo's clerk and supervisor (no password: a superuser may set one to try the
    supervisor's side), working in the demo city."""
    users = {}
    for username, display, role in DEMO_STAFF:
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"first_name": display, "is_staff": True}
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        user.groups.add(Group.objects.get(name=role))
        OfficerRegion.objects.get_or_create(user=user, region=city)
        users[role] = get_user_model().objects.get(pk=user.pk)
    return users


def _candidates(city: str, count: int) -> list[tuple[Person, object]]:
    """(applicant, destination) pairs: residents not registered in the city, each joining a
    different family household that has a head, in id order (the same city, the same pairs)."""
    applicants = list(
        Person.objects.filter(
            hukou_region__isnull=True,
            residence_region__code__startswith=city,
            status=PersonStatus.ACTIVE,
            birth_date__lte=dt.date(2005, 1, 1),
        ).order_by("pk")[:count]
    )
    heads = list(household_heads(region_prefix=city, kind=HouseholdKind.FAMILY)[: len(applicants)])
    return [(a, h.household) for a, h in zip(applicants, heads, strict=False)]


def settlement_demo_load(today: dt.date) -> str:
    """The demo loader (registered in ``SettlementConfig.ready``)."""
    rulesets_load_shipped()
    city_code = DEMO_CITY + "00"
    rule_set = demo_ruleset_ensure(city_code=city_code)
    if rule_set is None:
        return "无落户政策，未载入 / no rule set, nothing loaded"
    label = f"演示规则 {rule_set.version}" if rule_set.content.get("demo") else rule_set.version
    if Application.objects.filter(rule_set=rule_set).exists():
        return f"{label}；演示申请已存在 / already loaded"
    city = Region.objects.filter(code=DEMO_CITY + "00000000", level=RegionLevel.CITY).first()
    if city is None:
        return f"{label}；无演示城市，未载入申请 / no demo city"
    staff = _staff(city)
    clerk, chief = staff[roles.REGISTRATION_OFFICER], staff[roles.SUPERVISOR]
    made = 0
    for target, (person, household) in zip(PLAN, _candidates(DEMO_CITY, len(PLAN)), strict=False):
        _bring_to(
            target,
            person=person,
            household=household,
            rule_set=rule_set,
            clerk=clerk,
            chief=chief,
            today=today,
        )
        made += 1
    return f"{label}；{made} 件演示落户申请 / demo applications"


def _bring_to(target, *, person, household, rule_set, clerk, chief, today) -> Application:
    # The expired permit was issued long enough ago to have run out; the others are recent.
    start = today - dt.timedelta(days=70 if target == Status.EXPIRED else 10)
    common = {
        "city_code": rule_set.city_code,
        "on": start,
        "channel": "kinship",
        "target": "residence",
        "citizen_id": person.citizen_id,
        "name": person.name,
        "relation": "10",
        "evidence": KINSHIP,
        "household": household,
        "actor": clerk,
    }
    if target == Status.DRAFT:
        return services.application_create(**common)
    app = services.application_window_open(**common, materials=["居民身份证", "结婚证", "户口簿"])
    if target == Status.WITHDRAWN:
        return services.application_withdraw(
            application=app, actor=clerk, comment="申请人撤回", on=start
        )
    if target == Status.SUBMITTED:
        return app
    if target == Status.REJECTED:
        return services.application_reject(
            application=app, actor=clerk, reason="未能提供共同居住生活的证明", on=start
        )
    app = services.application_accept(application=app, actor=clerk, on=start)
    if target == Status.ACCEPTED:
        return app
    app = services.application_review_start(application=app, actor=clerk, on=start)
    if target == Status.RETURNED:
        return services.application_return(
            application=app, actor=clerk, missing=["结婚证原件"], on=start
        )
    if target == Status.UNDER_REVIEW:
        return app
    app = services.application_approve(application=app, actor=chief, on=start)
    if target == Status.APPROVED:
        return app
    app = services.application_issue_permit(application=app, actor=chief, on=start)
    if target == Status.EXPIRED:
        services.application_expire(application=app, on=today)
        return app
    if target == Status.PERMIT_ISSUED:
        return app
    return services.application_complete(application=app, actor=clerk, on=today)
