"""Points: the Guangzhou policy as data, the append-only ledger, tiers and the ranking.

Expected totals are worked out by hand from residence_permit/data/points/guangzhou-2016.json
(the indicators of 穗府〔2016〕3号 item 八 with popbase's placeholder scale).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, ProgrammingError, connection, transaction

from population.errors import DomainError
from residence_permit import points, services
from residence_permit.models import PersonFactKind, PointsEntry, PointsPolicy
from tests.dburl import both_layers_refuse

pytestmark = pytest.mark.django_db

ON = dt.date(2026, 3, 1)


@pytest.fixture
def policy(db):
    points.policies_load_shipped()  # the migration's rows, unless a transactional flush ran
    return PointsPolicy.objects.get(city_code="440100", version="2016.1")


def fact(person, kind, start, evidence, **kw):
    return services.person_fact_record(
        person=person, kind=kind, start_date=start, evidence=evidence, actor=None, **kw
    )


def test_the_guangzhou_policy_ships_with_its_source_named(policy):
    assert policy.effective_from == dt.date(2016, 2, 29)
    assert "穗府〔2016〕3号" in policy.document
    assert "穗府〔2016〕3号" in policy.rules["source"]
    assert [i["code"] for i in policy.rules["indicators"]] == [
        "continuous_residence",
        "stable_job",
        "stable_home",
        "education",
        "social_insurance",
        "tax",
        "skills",
        "community_service",
    ]


def test_loading_the_same_file_again_changes_nothing_and_a_changed_version_is_refused(
    policy, tmp_path
):
    path = points.DATA_DIR / "guangzhou-2016.json"
    again, created = points.policy_load_file(path=path)
    assert (again.pk, created) == (policy.pk, False)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["indicators"][0]["per_year"] = 4
    changed = tmp_path / "gz.json"
    changed.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(DomainError) as exc:
        points.policy_load_file(path=changed)
    assert exc.value.code == "policy_version_exists"
    assert PointsPolicy.objects.get(pk=policy.pk).rules["indicators"][0]["per_year"] == 3


@both_layers_refuse("Cannot delete")
def test_the_load_command_reports_unchanged_on_a_rerun_and_policies_are_immutable(policy, refusal):
    out = io.StringIO()
    call_command("load_points_policies", stdout=out)
    assert out.getvalue() == "440100 2016.1 广州市居住证积分: 未变 / unchanged\n"
    with pytest.raises(ProgrammingError, match="Cannot update"):
        with transaction.atomic():
            PointsPolicy.objects.filter(pk=policy.pk).update(name="改名")
    # UPDATE stays granted (an unchanged rewrite is allowed), so the trigger refuses a change.
    with pytest.raises(ProgrammingError, match=refusal):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM residence_permit_pointspolicy WHERE id = %s", [policy.pk])
    PointsPolicy.objects.filter(pk=policy.pk).update(name=policy.name)  # no change: allowed
    with pytest.raises(CommandError, match="No such file"):
        call_command("load_points_policies", "/nonexistent.json")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("source"), "缺少 source"),
        (lambda d: d["indicators"][0].update(method="guess"), "计算方法未知"),
        (lambda d: d["indicators"][1].update(facts=["lottery"]), "未知事实类别"),
        (lambda d: d["deductions"][0].update(points=5), "不是负数"),
        (lambda d: d["tiers"][1].update(min_points=0), "严格递增"),
        (lambda d: d["settlement"]["tie_breaks"].remove("permit_number_asc"), "兜底"),
    ],
)
def test_a_bad_policy_file_is_refused_naming_the_problem(change, message):
    data = json.loads((points.DATA_DIR / "guangzhou-2016.json").read_text(encoding="utf-8"))
    change(data)
    with pytest.raises(points.PolicyFileError, match=message):
        points.policy_validate(data)


def full_profile(person):
    fact(person, PersonFactKind.HOUSING_RENTED, dt.date(2023, 9, 1), "租赁备案 ZL-1")
    fact(person, PersonFactKind.EDUCATION, dt.date(2012, 7, 1), "本科毕业证 B-1", level="bachelor")
    fact(person, PersonFactKind.SOCIAL_INSURANCE, dt.date(2023, 9, 1), "社保缴费记录", quantity=30)
    tax = fact(person, PersonFactKind.TAX, dt.date(2024, 1, 1), "完税证明 T-1", quantity=25000)
    fact(person, PersonFactKind.SKILL, dt.date(2020, 1, 1), "高级工证书 S-1", level="vocational_3")
    fact(person, PersonFactKind.SKILL, dt.date(2021, 1, 1), "助理工程师 S-2", level="title_junior")
    fact(
        person, PersonFactKind.COMMUNITY_SERVICE, dt.date(2024, 1, 1), "志愿时长证明", quantity=120
    )
    return tax


def test_points_of_a_full_profile_match_the_hand_computation(gz_holder, policy):
    permit = gz_holder()
    person = permit.person
    full_profile(person)

    points.points_recompute(person=person, on=ON)

    # Registered since 2023-08-31, on 2026-03-01: 2 whole years.
    #   continuous_residence 2 × 3 = 6;  stable_job (employment since 2023-08-31) 2 × 2 = 4
    #   stable_home rented 10;  education bachelor 50;  social_insurance 30 months → 2 × 3 = 6
    #   tax 25 000 → 2 × 2 = 4;  skills max(vocational_3 20, title_junior 10) = 20
    #   community_service 120 h → 2 × 2 = 4                                       total 104
    assert points.points_by_indicator(person=person, policy=policy) == {
        "community_service": Decimal(4),
        "continuous_residence": Decimal(6),
        "education": Decimal(50),
        "skills": Decimal(20),
        "social_insurance": Decimal(6),
        "stable_home": Decimal(10),
        "stable_job": Decimal(4),
        "tax": Decimal(4),
    }
    assert points.points_total(person=person, policy=policy) == Decimal(104)
    tier, services_open = points.points_tier(policy=policy, total=Decimal(104))
    assert tier["code"] == "T3"
    assert services_open[-1] == "社会救助及社会福利服务"


def test_caps_hold(gz_holder, policy):
    permit = gz_holder()
    fact(permit.person, PersonFactKind.SOCIAL_INSURANCE, dt.date(2010, 1, 1), "社保", quantity=200)
    fact(
        permit.person, PersonFactKind.COMMUNITY_SERVICE, dt.date(2010, 1, 1), "志愿", quantity=1000
    )
    points.points_recompute(person=permit.person, on=ON)
    by = points.points_by_indicator(person=permit.person, policy=policy)
    # 200 months → 16 years × 3 = 48, capped 30; 1000 h → 20 × 2 = 40, capped 10.
    assert (by["social_insurance"], by["community_service"]) == (Decimal(30), Decimal(10))


def test_a_retracted_fact_appends_a_correction_and_a_second_recompute_appends_nothing(
    gz_holder, policy
):
    permit = gz_holder()
    tax = full_profile(permit.person)
    points.points_recompute(person=permit.person, on=ON)
    entries_before = list(PointsEntry.objects.order_by("id").values())

    services.person_fact_retract(fact=tax, actor=None, reason="完税证明有误")
    appended = points.points_recompute(person=permit.person, on=ON)

    assert [(e.indicator, e.points, e.source) for e in appended] == [
        ("tax", Decimal(-4), "computed")
    ]
    assert appended[0].reverses_id is not None
    assert list(PointsEntry.objects.order_by("id").values())[: len(entries_before)] == (
        entries_before
    )
    assert points.points_total(person=permit.person, policy=policy) == Decimal(100)
    assert points.points_recompute(person=permit.person, on=ON) == []


def test_a_deduction_takes_its_value_from_the_policy_and_needs_evidence(gz_holder, policy):
    permit = gz_holder()
    full_profile(permit.person)
    points.points_recompute(person=permit.person, on=ON)
    count = PointsEntry.objects.count()
    for evidence in ("", "   "):
        with pytest.raises(DomainError) as exc:
            points.points_deduction_add(
                person=permit.person, code="public_order_detention", evidence=evidence, actor=None
            )
        assert exc.value.code == "evidence_required"
    with pytest.raises(DomainError) as exc:
        points.points_deduction_add(person=permit.person, code="bonus", evidence="x", actor=None)
    assert exc.value.code == "bad_indicator"
    assert PointsEntry.objects.count() == count

    points.points_deduction_add(
        person=permit.person,
        code="public_order_detention",
        evidence="行政处罚决定书 穗公(治)行罚决字〔2025〕1号",
        actor=None,
    )
    assert points.points_total(person=permit.person, policy=policy) == Decimal(84)
    tier, _ = points.points_tier(policy=policy, total=Decimal(84))
    assert tier["code"] == "T2"


@both_layers_refuse("Cannot update or delete")
def test_the_ledger_is_append_only_and_refuses_entries_without_evidence(gz_holder, policy, refusal):
    permit = gz_holder()
    points.points_recompute(person=permit.person, on=ON)
    entry = PointsEntry.objects.first()
    with pytest.raises(ProgrammingError, match=refusal):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE residence_permit_pointsentry SET points = 99 WHERE id = %s", [entry.pk]
            )
    with pytest.raises(ProgrammingError, match=refusal):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM residence_permit_pointsentry WHERE id = %s", [entry.pk])
    with pytest.raises(IntegrityError, match="points_evidence_required"):
        PointsEntry.objects.create(
            person=permit.person,
            policy=policy,
            indicator="tax",
            points=1,
            evidence="",
            source="officer",
        )


def test_a_holder_who_settles_has_every_computed_point_reversed(gz_holder, policy):
    permit = gz_holder()
    full_profile(permit.person)
    points.points_recompute(person=permit.person, on=ON)
    services.permit_cancel_on_settlement(person=permit.person, actor=None, on=ON)
    points.points_recompute(person=permit.person, on=ON)
    assert points.points_total(person=permit.person, policy=policy) == 0


def test_the_ranking_has_a_quota_and_deterministic_tie_breaks(gz_holder, policy):
    permits = [gz_holder(name=f"持证人{i}") for i in range(4)]
    for p in permits:
        full_profile(p.person)  # 104 each
    # Holder 0 has more social insurance months, the same points (35 months: still 2 years).
    fact(
        permits[0].person, PersonFactKind.SOCIAL_INSURANCE, dt.date(2023, 9, 1), "补缴", quantity=5
    )
    # Holder 3 falls below the minimum of 85 with a deduction.
    for p in permits:
        points.points_recompute(person=p.person, on=ON)
    points.points_deduction_add(
        person=permits[3].person, code="public_order_detention", evidence="决定书1", actor=None
    )

    ranking = points.points_ranking(policy=policy, quota=2, on=ON)
    again = points.points_ranking(policy=policy, quota=2, on=ON)

    assert ranking == again
    assert [(r.rank, r.person_id, r.points, r.within_quota) for r in ranking] == [
        (1, permits[0].person_id, Decimal(104), True),
        # Equal points, months, residence and issue date: the permit number decides.
        (2, permits[1].person_id, Decimal(104), True),
        (3, permits[2].person_id, Decimal(104), False),
    ]
    assert ranking[1].permit_number < ranking[2].permit_number
    with pytest.raises(DomainError):
        points.points_ranking(policy=policy, quota=-1, on=ON)
