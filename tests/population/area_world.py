"""A city with two police stations' areas and one record of every kind of personal data in the
first; officers of each holding every permission, and one with no area at all.

Used by the area matrix tests (tests/population/test_area_matrix.py, test_area_services.py):
they iterate the admin registry and the write services, so a new admin or service needs a
sample here, and the tests say so when it has none.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from population import services as population_services
from population.codes import Relation
from population.identity import build_citizen_id
from population.models import BreakGlassGrant, OfficerRegion, Region, RegionLevel
from population.sync.models import Batch, Fact, FollowUp
from registry import services as registry
from registry.models import HouseholdKind
from registry.quality import services as quality
from registry.quality.models import IssueKind, QualityIssue
from residence_permit import services as permits
from residence_permit.models import (
    PersonFact,
    PersonFactKind,
    PointsEntry,
    PointsPolicy,
    ResidenceBasis,
    ResidenceRegistration,
)
from residence_permit.points import policies_load_shipped
from settlement import services as settlement
from settlement.rules import DATA_DIR, ruleset_load_file, rulesets_load_shipped

_serial = itertools.count(1)


def citizen_id(born=dt.date(1990, 1, 1), male=True, address="441802") -> str:
    """A new valid number each call, however many tests one process runs: the 3-digit
    sequence (odd for men, even for women) holds 500 of each, then the birth date moves on."""
    days, serial = divmod(next(_serial), 500)
    return build_citizen_id(
        address, born + dt.timedelta(days=days), serial * 2 + (1 if male else 0)
    )


def staff(username: str, *regions: Region) -> User:
    """A staff member holding every permission (not a superuser): only the area limits them."""
    user = User.objects.create_user(username, password="pw-" + username, is_staff=True)
    user.user_permissions.set(Permission.objects.all())
    for region in regions:
        OfficerRegion.objects.create(user=user, region=region)
    return User.objects.get(pk=user.pk)  # fresh: no cached permissions or area


@pytest.fixture
def world(village, tmp_path):
    """Records of every kind in 凤城街道 (township A); 东城街道 (township B) holds nothing."""
    today = timezone.localdate()
    township_a = village.parent
    county = township_a.parent
    township_b = Region.objects.create(
        code="441802007000", name="东城街道", level=RegionLevel.TOWNSHIP, parent=county
    )
    village_b = Region.objects.create(
        code="441802007001", name="东城第一社区", level=RegionLevel.VILLAGE, parent=township_b
    )
    officer_a = staff("officer_a", township_a)
    officer_b = staff("officer_b", township_b)
    nobody = staff("nobody")

    # Registry: a household, its head and a spouse (memberships, events, change feed).
    household = registry.household_create(
        kind=HouseholdKind.FAMILY, address="凤城路1号", region=village, actor=None
    )
    household2 = registry.household_create(
        kind=HouseholdKind.FAMILY, address="凤城路3号", region=village, actor=None
    )
    registry.move_in(citizen_id=citizen_id(), name="张户主", household=household2,
                     relation=Relation.HEAD, transfer_permit_number="T-3",
                     on=dt.date(2020, 1, 1), actor=None)  # fmt: skip
    collective = registry.household_create(
        kind=HouseholdKind.PUBLIC_COLLECTIVE, address="凤城社区集体户", region=village, actor=None
    )
    head = registry.move_in(citizen_id=citizen_id(), name="王户主", household=household,
                            relation=Relation.HEAD, transfer_permit_number="T-1",
                            on=dt.date(2020, 1, 1), actor=None)  # fmt: skip
    spouse = registry.move_in(citizen_id=citizen_id(male=False), name="李配偶",
                              household=household, relation=Relation.WIFE,
                              transfer_permit_number="T-2", on=dt.date(2020, 1, 1),
                              actor=None)  # fmt: skip
    # A duplicate record of the head, and an ID correction.
    duplicate = population_services.person_create(
        citizen_id=citizen_id(), name="王户主", hukou_region=village, actor=None, reason="测试"
    )
    population_services.person_correct_citizen_id(
        person=duplicate, new_citizen_id=citizen_id(), actor=None, reason="录入错误"
    )
    issue = QualityIssue.objects.create(
        kind=IssueKind.DUPLICATE_SAME_NAME, fingerprint=f"test:{head.pk}:{duplicate.pk}",
        person_ids=[head.pk, duplicate.pk], household=household, evidence={"姓名": "王户主"},
        evidence_hash="0" * 32, found_at=timezone.now(), evidence_changed_at=timezone.now(),
    )  # fmt: skip
    merge = quality.person_merge_propose(
        survivor=head, duplicate=duplicate, actor=officer_a, reason="同一人", issue=issue
    )
    # 变更更正登记: a name correction of the spouse, proposed by a clerk of township A and
    # waiting for a supervisor's decision.
    correction = registry.correction_propose(
        person=spouse, field="name", new_value="李正名", document_type="户口簿",
        document_number="HK-1", reason="录入错字", actor=staff("clerk_a", township_a),
    )  # fmt: skip
    grant = BreakGlassGrant.objects.create(
        user=staff("visitor"), person=spouse, reason="核对户籍", granted_at=timezone.now(),
        expires_at=timezone.now() + dt.timedelta(hours=2),
    )  # fmt: skip

    # Department sync: a batch, a fact and a follow-up about the head.
    batch = Batch.objects.create(
        department="health", feed="death", schema_version=1, fmt="csv", encoding="utf-8",
        source="api", filename="death.csv", content=b"x", content_sha256="0" * 64,
        size_bytes=1,
    )  # fmt: skip
    now = timezone.now()
    fact = Fact.objects.create(
        kind="death", record_no="D-1", department="health", person=head, reported_name="王户主",
        event_date=dt.date(2024, 1, 1), batch=batch, created_at=now, updated_at=now,
    )  # fmt: skip
    followup = FollowUp.objects.create(
        kind="death_cancellation", person=head, fact=fact, batch=batch, department="health",
        dedupe_key=f"death:{head.pk}", created_at=now,
    )  # fmt: skip

    # Residence permits: a lapsed permit, one due for endorsement, a waiting application.
    def migrant(name, registered_since):
        person = population_services.person_create(
            citizen_id=citizen_id(address="441881"), name=name, actor=None, reason="测试"
        )
        permits.residence_registration_create(
            person=person, address="凤城路2号", region=village, basis=ResidenceBasis.JOB,
            start_date=registered_since, actor=None,
        )  # fmt: skip
        permits.person_fact_record(
            person=person, kind=PersonFactKind.EMPLOYMENT, start_date=registered_since,
            evidence="劳动合同 HT-1", source_name="清城区人社局", actor=None,
        )  # fmt: skip
        return person

    lapsing = migrant("赵居民", dt.date(2023, 8, 31))
    lapsed = permits.permit_issue(
        application=permits.permit_application_submit(
            person=lapsing, actor=None, on=dt.date(2024, 2, 29)
        ),
        actor=None,
        on=dt.date(2024, 2, 29),
    )
    permits.permit_lapse(permit=lapsed, on=today, actor=None)
    issued = today - dt.timedelta(days=355)
    due_holder = migrant("钱居民", issued - dt.timedelta(days=240))
    due = permits.permit_issue(
        application=permits.permit_application_submit(person=due_holder, actor=None, on=issued),
        actor=None,
        on=issued,
    )
    waiting_person = migrant("孙居民", today - dt.timedelta(days=240))
    waiting = permits.permit_application_submit(person=waiting_person, actor=None, on=today)
    newcomer = migrant("周居民", today - dt.timedelta(days=240))
    policies_load_shipped()
    points = PointsEntry.objects.create(
        person=due_holder, policy=PointsPolicy.objects.first(), indicator="deduction",
        points=-5, evidence="违法记录 X-1", source="officer",
    )  # fmt: skip

    # Settlement: 清远's channels in force now; the waiting migrant applies, submitted.
    rulesets_load_shipped()
    data = json.loads((DATA_DIR / "qingyuan-2015.json").read_text(encoding="utf-8"))
    data.update(version="matrix-test", effective_from="2024-01-01", effective_to=None)
    path = tmp_path / "qingyuan-matrix.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    ruleset_load_file(path=path)
    application = settlement.application_create(
        city_code="441800", on=today, channel="home_purchase", target="residence",
        citizen_id=lapsing.citizen_id, name=lapsing.name,
        evidence={"properties": [{"owner": "applicant", "use": "residential", "area_m2": 90,
                                  "registered": True}]}, actor=None,
    )  # fmt: skip
    application = settlement.application_submit(application=application, actor=None, on=today)

    return SimpleNamespace(
        today=today,
        village=village,
        village_b=village_b,
        township_a=township_a,
        township_b=township_b,
        officer_a=officer_a,
        officer_b=officer_b,
        nobody=nobody,
        household=household,
        household2=household2,
        collective=collective,
        head=head,
        spouse=spouse,
        duplicate=duplicate,
        issue=issue,
        merge=merge,
        correction=correction,
        grant=grant,
        fact=fact,
        followup=followup,
        lapsed=lapsed,
        due=due,
        waiting=waiting,
        newcomer=newcomer,
        newcomer_registration=ResidenceRegistration.objects.get(person=newcomer),
        person_fact=PersonFact.objects.filter(person=due_holder).first(),
        points=points,
        application=application,
    )
