"""Fixtures of the settlement tests: officers, a current 清远 rule set, a household, a holder."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from population import roles
from registry import services as registry
from registry.models import HouseholdKind
from residence_permit import services as permits
from residence_permit.models import PersonFactKind, ResidenceBasis
from settlement.rules import DATA_DIR, ruleset_load_file, rulesets_load_shipped

ON = dt.date(2024, 3, 4)  # a Monday


@pytest.fixture(autouse=True)
def shipped_rules(request):
    """The shipped rule sets (a migration loads them; a flushed reused database has lost them)."""
    if request.node.get_closest_marker("django_db") is None:
        return
    transactional = request.node.get_closest_marker("django_db").kwargs.get("transaction")
    request.getfixturevalue("transactional_db" if transactional else "db")
    rulesets_load_shipped()


@pytest.fixture
def qy_current(db, tmp_path):
    """清远's 2015 channels as a new version in force from 2024 (a new version is a new row)."""
    data = json.loads((DATA_DIR / "qingyuan-2015.json").read_text(encoding="utf-8"))
    data.update(version="2024-test", effective_from="2024-01-01", effective_to=None)
    path = tmp_path / "qingyuan-2024.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return ruleset_load_file(path=path)[0]


@pytest.fixture
def officers(city):
    """An officer who accepts and two supervisors who may approve, working city-wide."""
    from django.contrib.auth.models import Group, User

    from population.models import OfficerRegion

    def user(name, role):
        u = User.objects.create_user(name, password="pw-" + name, is_staff=True)
        u.groups.add(Group.objects.get(name=role))
        OfficerRegion.objects.create(user=u, region=city)
        return User.objects.get(pk=u.pk)  # a fresh object: no cached permissions

    return {
        "officer": user("officer", roles.REGISTRATION_OFFICER),
        "chief": user("chief", roles.SUPERVISOR),
        "chief2": user("chief2", roles.SUPERVISOR),
    }


@pytest.fixture
def family_household(village):
    return registry.household_create(
        kind=HouseholdKind.FAMILY, address="凤城路9号", region=village, actor=None
    )


@pytest.fixture
def permit_holder(make_person, village):
    """A migrant holding a residence permit issued on 29 Feb 2024."""

    def _make(*, name="李四", born=dt.date(1990, 1, 1), male=True):
        person = make_person(name=name, born=born, male=male)
        permits.residence_registration_create(
            person=person,
            address="凤城路1号",
            region=village,
            basis=ResidenceBasis.JOB,
            start_date=dt.date(2023, 8, 31),
            actor=None,
        )
        permits.person_fact_record(
            person=person,
            kind=PersonFactKind.EMPLOYMENT,
            start_date=dt.date(2023, 8, 31),
            evidence="劳动合同 HT-001",
            source_name="清城区人社局",
            actor=None,
        )
        application = permits.permit_application_submit(
            person=person, actor=None, on=dt.date(2024, 2, 29)
        )
        return permits.permit_issue(application=application, actor=None, on=dt.date(2024, 2, 29))

    return _make
