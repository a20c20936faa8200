"""Fixtures of the residence-permit tests: a second district, and a holder ready to apply."""

from __future__ import annotations

import datetime as dt

import pytest

from population.models import Region, RegionLevel
from residence_permit import points, services
from residence_permit.models import PersonFactKind, ResidenceBasis


@pytest.fixture
def other_village(village):
    """A village-level unit in 清新区 (441803), another county of the same city."""
    city = Region.objects.get(code="441800000000")
    county = Region.objects.create(
        code="441803000000", name="清新区", level=RegionLevel.COUNTY, parent=city
    )
    township = Region.objects.create(
        code="441803100000", name="太和镇", level=RegionLevel.TOWNSHIP, parent=county
    )
    return Region.objects.create(
        code="441803100001",
        name="太和镇第一社区",
        level=RegionLevel.VILLAGE,
        parent=township,
        is_synthetic=True,
    )


@pytest.fixture
def resident(make_person, village):
    """A migrant (no hukou in the city) registered at 凤城路1号 since ``since``, employed."""

    def _make(
        *,
        since=dt.date(2024, 1, 31),
        employed=True,
        name="李四",
        born=dt.date(1990, 1, 1),
        address="凤城路1号",
        **kw,
    ):
        person = make_person(name=name, born=born, **kw)
        services.residence_registration_create(
            person=person,
            address=address,
            region=village,
            basis=ResidenceBasis.JOB,
            start_date=since,
            actor=None,
        )
        if employed:
            services.person_fact_record(
                person=person,
                kind=PersonFactKind.EMPLOYMENT,
                start_date=since,
                evidence="劳动合同 HT-001",
                source_name="清城区人社局",
                actor=None,
            )
        person.refresh_from_db()
        return person

    return _make


@pytest.fixture
def holder(resident):
    """A permit issued on 29 Feb 2024 (registered since 31 Aug 2023)."""

    def _make(*, issued=dt.date(2024, 2, 29), **kw):
        person = resident(since=dt.date(2023, 8, 31), **kw)
        application = services.permit_application_submit(person=person, actor=None, on=issued)
        return services.permit_issue(application=application, actor=None, on=issued)

    return _make


@pytest.fixture
def gz_holder(holder):
    """Holders in 广州 (the Guangzhou policy applies by the permit region's city)."""
    from population.models import Region, RegionLevel

    province = Region.objects.get(code="440000000000")
    city = Region.objects.create(
        code="440100000000", name="广州市", level=RegionLevel.CITY, parent=province
    )
    county = Region.objects.create(
        code="440106000000", name="天河区", level=RegionLevel.COUNTY, parent=city
    )

    # A transactional test's flush may have removed the policy rows the migration loaded.
    points.policies_load_shipped()

    def _make(**kw):
        permit = holder(**kw)
        # Registered since 31 Aug 2023 in 天河区; permit issued 29 Feb 2024.
        services.permit_change_address(
            permit=permit, address="天河路1号", region=county, actor=None, on=dt.date(2024, 3, 1)
        )
        permit.refresh_from_db()
        return permit

    return _make
