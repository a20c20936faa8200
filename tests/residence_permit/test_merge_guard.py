"""A duplicate is not merged away while a live permit or a pending application hangs on it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group

from population import roles
from population.errors import DomainError
from population.models import Person, PersonStatus
from registry.quality.services import person_merge_approve, person_merge_propose
from residence_permit import services
from residence_permit.models import PermitStatus, ResidencePermit

pytestmark = pytest.mark.django_db


def staff(django_user_model, name: str, role: str, region):
    user = django_user_model.objects.create_user(name, password="x", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=role)[0])
    user.jurisdiction_regions.create(region=region)  # the whole city
    return user


@pytest.fixture
def officer(django_user_model, city):
    return staff(django_user_model, "officer", roles.REGISTRATION_OFFICER, city)


@pytest.fixture
def supervisor(django_user_model, city):
    return staff(django_user_model, "supervisor", roles.SUPERVISOR, city)


def test_a_duplicate_holding_a_live_permit_is_not_merged_and_nothing_changes(
    holder, make_person, officer, supervisor
):
    permit = holder(name="王五")
    survivor = make_person(name="王五", born=dt.date(1990, 1, 1))
    merge = person_merge_propose(
        survivor=survivor, duplicate=permit.person, actor=officer, reason="重复登记"
    )

    with pytest.raises(DomainError) as err:
        person_merge_approve(merge=merge, actor=supervisor)

    assert err.value.code == "duplicate_holds_permit"
    assert "permit" in err.value.message_en and "居住证" in err.value.message_zh
    assert Person.objects.get(pk=permit.person_id).status == PersonStatus.ACTIVE
    assert ResidencePermit.objects.get(pk=permit.pk).status == PermitStatus.ACTIVE
    merge.refresh_from_db()
    assert merge.decided_by_id is None


def test_once_the_permit_is_cancelled_the_merge_goes_through(
    holder, make_person, officer, supervisor
):
    permit = holder(name="王五")
    services.permit_cancel_on_leaving(
        permit=permit, actor=None, on=dt.date(2024, 6, 1), reason="离开本市"
    )
    survivor = make_person(name="王五", born=dt.date(1990, 1, 1))
    merge = person_merge_propose(
        survivor=survivor, duplicate=permit.person, actor=officer, reason="重复登记"
    )

    person_merge_approve(merge=merge, actor=supervisor)

    assert Person.objects.get(pk=permit.person_id).status == PersonStatus.CANCELLED
    # the permit record stays on the row it was issued for
    assert ResidencePermit.objects.get(pk=permit.pk).person_id == permit.person_id
