"""Reads of personal data leave an append-only, hash-chained trail."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection, transaction

from population import audit, roles
from population.audit import GENESIS, access_log_record, access_log_seal, access_log_verify
from population.models import AccessLog
from tests.dburl import both_layers_refuse

pytestmark = pytest.mark.django_db

PASSWORD = "x-Strong-pass-1"


@pytest.fixture
def officer_client(client, django_user_model, settings, city, assign_area):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    user = django_user_model.objects.create_user("counter1", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=roles.REGISTRATION_OFFICER))
    assign_area(user, city)
    client.force_login(user)
    client.user = user
    return client


def test_opening_a_person_page_logs_who_whom_which_fields_and_why(officer_client, make_person):
    person = make_person(name="周八")

    response = officer_client.get(f"/admin/population/person/{person.pk}/change/")

    assert response.status_code == 200
    entry = AccessLog.objects.get()
    assert (entry.user_id, entry.username, entry.channel) == (
        officer_client.user.pk,
        "counter1",
        "admin.person",
    )
    assert entry.person_ids == [person.pk]
    assert "shown_citizen_id" in entry.fields  # this role saw the full number
    assert entry.purpose == "户籍业务办理（管理后台）"
    assert entry.client == "127.0.0.1"


def test_a_list_page_logs_every_person_it_showed(officer_client, make_person):
    shown = {make_person(name=f"吴{i}").pk for i in range(3)}

    officer_client.get("/admin/population/person/")

    entry = AccessLog.objects.get()
    assert (entry.channel, set(entry.person_ids)) == ("admin.person_list", shown)
    assert "masked_id" in entry.fields


def test_an_empty_list_logs_nothing(officer_client):
    officer_client.get("/admin/population/person/")
    assert not AccessLog.objects.exists()


def test_the_sealer_links_each_row_to_the_previous_one(settings, tmp_path):
    from population.models import AccessLogPending, AccessLogSeal

    settings.AUDIT_CHECKPOINT_DIR = tmp_path
    a = access_log_record(user=None, channel="t", purpose="p", person_ids=[1], fields=["name"])
    b = access_log_record(user=None, channel="t", purpose="p", person_ids=[2, 1], fields=["x"])
    # Written unsealed: queued for the sealer, not in the chain.
    assert set(AccessLogPending.objects.values_list("log_id", flat=True)) == {a.pk, b.pk}
    assert not AccessLogSeal.objects.exists()

    access_log_seal()

    links = list(AccessLogSeal.objects.order_by("seq").values_list("seq", "log_id", "row_hash"))
    assert [(seq, log_id) for seq, log_id, _ in links] == [(1, a.pk), (2, b.pk)]
    content = [getattr(a, c) for c in audit.ACCESS_LOG_CONTENT]
    a.refresh_from_db()
    first = audit._digest_fn("hmac-sha256")(
        audit._row_payload(1, GENESIS, [getattr(a, c) for c in audit.ACCESS_LOG_CONTENT])
    )
    assert links[0][2] == first  # chained from the genesis hash
    assert content[0] == a.pk
    assert not AccessLogPending.objects.exists()
    b.refresh_from_db()
    assert b.person_ids == [1, 2]
    assert access_log_verify().intact


@both_layers_refuse("append_only")
def test_the_database_refuses_to_alter_or_remove_log_rows_or_links(settings, tmp_path, refusal):
    settings.AUDIT_CHECKPOINT_DIR = tmp_path
    entry = access_log_record(user=None, channel="t", purpose="p", person_ids=[1], fields=["a"])
    access_log_seal()
    for sql in (
        "UPDATE population_accesslog SET purpose = 'x'",
        "DELETE FROM population_accesslog",
        "UPDATE population_accesslogseal SET row_hash = 'f'",
        "DELETE FROM population_accesslogseal",
    ):
        with pytest.raises(DatabaseError, match=refusal), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql)
    entry.refresh_from_db()
    assert entry.purpose == "p"
    assert access_log_verify().intact


def test_opening_a_household_logs_its_members(officer_client, make_person, village):
    from population.codes import Relation
    from registry.models import Household, Membership

    household = Household.objects.create(number="H9", address="凤城路9号", region=village)
    members = [make_person(name="郑甲"), make_person(name="郑乙", male=False)]
    for person, relation in zip(members, (Relation.HEAD, Relation.WIFE), strict=True):
        Membership.objects.create(
            person=person, household=household, relation=relation, start_date="2020-01-01"
        )

    response = officer_client.get(f"/admin/registry/household/{household.pk}/change/")

    assert response.status_code == 200
    entry = AccessLog.objects.get()
    assert entry.channel == "admin.household"
    assert entry.person_ids == sorted(p.pk for p in members)
