"""Fixtures of the registration-event tests (``tests/registry/test_events_*.py``)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from population import services as population_services
from population.codes import Relation
from population.models import Region, RegionLevel
from registry.models import HouseholdKind
from tests.registry.event_helpers import cid, move_in, new_household


@pytest.fixture
def officer(django_user_model, city, assign_area):
    user = django_user_model.objects.create_user("officer", password="x-Strong-pass-1")
    return assign_area(user, city)


@pytest.fixture
def village2(village):
    return Region.objects.create(
        code="441802006002",
        name="凤城街道第二社区",
        level=RegionLevel.VILLAGE,
        parent=village.parent,
        is_synthetic=True,
    )


@pytest.fixture
def ns(village, village2):
    """A family of three in ``village``; another family, an empty one and a unit collective
    household in ``village2``; and an outsider recorded but not registered in the city."""
    home = new_household(village, address="凤城路1号")
    head = move_in(home, cid(11), Relation.HEAD, "王大")
    wife = move_in(home, cid(12), Relation.WIFE, "李梅")
    son = move_in(home, cid(13, dt.date(2012, 5, 6)), Relation.SON, "王小")
    other = new_household(village2, address="清远大道2号")
    other_head = move_in(other, cid(21), Relation.HEAD, "陈二")
    spare = new_household(village2, address="清远大道3号")
    unit = new_household(village2, HouseholdKind.UNIT_COLLECTIVE, "清远大道4号")
    outsider = population_services.person_create(
        citizen_id=cid(31), name="赵外", actor=None, reason="测试"
    )
    return SimpleNamespace(
        village=village,
        village2=village2,
        home=home,
        head=head,
        wife=wife,
        son=son,
        other=other,
        other_head=other_head,
        spare=spare,
        unit=unit,
        outsider=outsider,
    )
