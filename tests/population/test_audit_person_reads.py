"""Who read this person: the per-person index the sealer writes, its keyset pages, the
auditor's admin page (area by default) and the access-log detail page in Chinese."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from population import roles
from population.audit import (
    InvalidCursor,
    access_log_record,
    access_log_seal,
    access_log_verify,
    person_reads,
    read_cursor_parse,
)
from population.models import AccessLog, AccessLogPerson

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def checkpoint_dir(settings, tmp_path):
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"


def _read(person_ids, *, who="officer1", channel="admin.person", purpose="户籍业务", at=None):
    row = AccessLog.objects.create(
        at=at or timezone.now(),
        username=who,
        channel=channel,
        purpose=purpose,
        person_ids=sorted(set(person_ids)),
        fields=["name", "masked_id"],
        client="10.0.0.1",
    )
    return row


# -- the index -------------------------------------------------------------------------------


def test_a_read_is_listed_for_each_person_it_names_once_sealed_and_only_once():
    first = _read([7, 8, 9])
    _read([8])
    assert person_reads(8) == []  # not sealed yet: not in the index
    access_log_seal()
    access_log_seal()  # a second run finds nothing to seal and indexes nothing twice
    assert AccessLogPerson.objects.count() == 4
    assert [r.log_id for r in person_reads(7)] == [first.pk]
    assert len(person_reads(8)) == 2
    assert person_reads(10) == []
    assert access_log_verify().intact


def test_reads_come_newest_first_and_pages_cover_every_read_once_even_with_equal_times():
    base = timezone.now() - dt.timedelta(days=1)
    made = []
    for i in range(23):
        at = base + dt.timedelta(seconds=i // 3)  # three reads share each second
        made.append(_read([5, 100 + i], at=at, who=f"u{i}"))
    _read([6])  # someone else
    access_log_seal(batch_size=7)
    pages, after = [], None
    while True:
        page = person_reads(5, after=after, limit=5)
        if not page:
            break
        pages.append(page)
        after = read_cursor_parse(page[-1].cursor)
    seen = [r.log_id for page in pages for r in page]
    expected = [r.pk for r in sorted(made, key=lambda r: (r.at, r.pk), reverse=True)]
    assert seen == expected
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    first = pages[0][0]
    assert (first.username, first.channel, first.purpose) == ("u22", "admin.person", "户籍业务")


@pytest.mark.parametrize(
    "raw",
    ["", "abc", "1_", "_1", "12", "1_2_3", "١٢_3", "1_²", "-1_2", " 1_2", "1" * 18 + "_1"],
)
def test_a_malformed_cursor_is_refused(raw):
    with pytest.raises(InvalidCursor):
        read_cursor_parse(raw)


def test_a_cursor_round_trips_to_the_microsecond():
    row = _read([1], at=dt.datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=dt.UTC))
    access_log_seal()
    (read,) = person_reads(1)
    assert read_cursor_parse(read.cursor) == (row.at, row.pk)


def test_the_index_is_append_only_and_refuses_truncate():
    _read([1])
    access_log_seal()
    for statement in (
        "UPDATE population_accesslogperson SET person_id = 2",
        "DELETE FROM population_accesslogperson",
        "TRUNCATE population_accesslogperson",
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement)
    assert AccessLogPerson.objects.count() == 1


@pytest.mark.db_role("owner")  # ANALYZE of 100k rows made here is the owner's (tests/dburl.py)
def test_one_persons_page_is_a_range_scan_of_the_index_not_a_sort_of_the_log():
    """EXPLAIN on 100k reads of 1,000 persons: the primary key in order, no Sort."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO population_accesslog (id, at, username, channel, purpose, person_ids,"
            " fields, client)"
            " SELECT g, now() - g * interval '1 second', 'u', 'api.persons', 'p',"
            " ARRAY[g % 1000], ARRAY['name'], ''"
            " FROM generate_series(1, 100000) g"
        )
        cursor.execute(
            "INSERT INTO population_accesslogperson (person_id, at, log_id)"
            " SELECT person_ids[1], at, id FROM population_accesslog"
        )
        cursor.execute("ANALYZE population_accesslogperson")
        cursor.execute("ANALYZE population_accesslog")
        for keyset in ("", " AND (i.at, i.log_id) < (now() - interval '1 day', 100000)"):
            cursor.execute(
                "EXPLAIN SELECT a.id, a.at, a.username, a.channel, a.purpose, a.fields"
                " FROM population_accesslogperson i"
                " JOIN population_accesslog a ON a.id = i.log_id"
                f" WHERE i.person_id = 42{keyset} ORDER BY i.at DESC, i.log_id DESC LIMIT 51"
            )
            plan = "\n".join(r[0] for r in cursor.fetchall())
            # Month partitions: only an empty month (created ahead) may be read by a scan.
            for table in re.findall(r"Seq Scan on (\w+)", plan):
                cursor.execute(f"SELECT count(*) FROM {table}")
                assert cursor.fetchone()[0] == 0, plan
            # Each month's part of the primary key.
            assert re.search(r"population_accesslogperson_p\d{6}_pkey", plan), plan
            if keyset:
                # Both the person and the position bound the index range (a Sort, if the
                # planner picks one, sees only this person's rows before the position).
                assert re.search(r"Index Cond: \(\(person_id = 42\) AND \(ROW\(", plan), plan
            else:
                # The newest page walks each month's key backwards, merged in order: no Sort.
                assert "Scan Backward" in plan and "  Sort  " not in plan, plan


# -- the auditor's page ----------------------------------------------------------------------


def _staff(django_user_model, name, role):
    user = django_user_model.objects.create_user(name, password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def inside_and_outside(make_person, village):
    from population.models import Region, RegionLevel

    other_county = Region.objects.create(
        code="441803000000",
        name="清新区",
        level=RegionLevel.COUNTY,
        parent=village.parent.parent.parent,
    )
    inside = make_person(name="李四", hukou_region=village)
    outside = make_person(name="王五", hukou_region=other_county)
    return inside, outside


def test_auditor_finds_a_person_in_their_area_by_citizen_id_and_sees_the_reads(
    client, django_user_model, assign_area, village, inside_and_outside
):
    inside, outside = inside_and_outside
    auditor = assign_area(_staff(django_user_model, "auditor", roles.AUDITOR), village.parent)
    _read([inside.pk], who="民警甲", channel="api.persons", purpose="social_insurance 社会保险经办")
    _read([outside.pk], who="民警乙")
    access_log_seal()
    client.force_login(auditor)

    spaced = f"{inside.citizen_id[:6]} {inside.citizen_id[6:]}"
    response = client.get("/admin/population/accesslog/person/", {"citizen_id": spaced})
    assert response.status_code == 302
    assert response["Location"] == f"/admin/population/accesslog/person/{inside.pk}/"
    body = client.get(response["Location"]).content.decode()
    assert "民警甲" in body and "共享接口：人员查询" in body and "社会保险经办" in body
    assert "民警乙" not in body
    assert inside.citizen_id not in body  # masked in the title
    # The auditor's look is itself a read of that person, on record.
    mine = AccessLog.objects.filter(username="auditor").get()
    assert (mine.channel, mine.person_ids) == ("admin.person_reads", [inside.pk])

    # Outside the area: the same words as an unknown number, and no read logged.
    response = client.get("/admin/population/accesslog/person/", {"citizen_id": outside.citizen_id})
    assert response.status_code == 200
    assert "在您的辖区内未找到" in response.content.decode()
    response = client.get(f"/admin/population/accesslog/person/{outside.pk}/")
    assert response.status_code == 302
    assert "民警乙" not in client.get(response["Location"]).content.decode()
    assert AccessLog.objects.filter(username="auditor").count() == 1


@pytest.mark.parametrize(
    ("typed", "message"), [("44180219900101", "位"), ("441802199013011234", "")]
)
def test_a_malformed_citizen_id_is_explained(client, django_user_model, typed, message):
    client.force_login(_staff(django_user_model, "auditor", roles.AUDITOR))
    response = client.get("/admin/population/accesslog/person/", {"citizen_id": typed})
    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    assert message in response.content.decode()


def test_officers_may_not_list_reads_and_get_no_link(
    client, django_user_model, assign_area, village, inside_and_outside
):
    inside, _ = inside_and_outside
    officer = assign_area(
        _staff(django_user_model, "officer", roles.REGISTRATION_OFFICER), village.parent
    )
    client.force_login(officer)
    assert client.get(f"/admin/population/accesslog/person/{inside.pk}/").status_code == 403
    assert client.get("/admin/population/accesslog/person/").status_code == 403
    page = client.get(f"/admin/population/person/{inside.pk}/change/").content.decode()
    assert "查询记录" not in page

    auditor = assign_area(_staff(django_user_model, "auditor", roles.AUDITOR), village.parent)
    client.force_login(auditor)
    page = client.get(f"/admin/population/person/{inside.pk}/change/").content.decode()
    assert f'href="/admin/population/accesslog/person/{inside.pk}/"' in page


def test_a_bad_page_position_falls_back_to_the_first_page(
    client, django_user_model, assign_area, village, inside_and_outside
):
    inside, _ = inside_and_outside
    _read([inside.pk], who="民警甲")
    access_log_seal()
    client.force_login(
        assign_area(_staff(django_user_model, "auditor", roles.AUDITOR), village.parent)
    )
    body = client.get(
        f"/admin/population/accesslog/person/{inside.pk}/", {"after": "x'; DROP"}
    ).content.decode()
    assert "翻页位置无效" in body and "民警甲" in body


def test_the_access_log_detail_page_names_channel_and_fields_in_chinese(client, django_user_model):
    row = access_log_record(
        user=None,
        channel="api.verifications",
        purpose="测试",
        person_ids=[1, 2],
        fields=["citizen_id", "hukou_region_name", "fact:alive", "no_such_field"],
    )
    client.force_login(_staff(django_user_model, "auditor", roles.AUDITOR))
    body = client.get(f"/admin/population/accesslog/{row.pk}/change/").content.decode()
    content = body[body.index('id="content"') :]
    assert "共享接口：身份核验" in content
    assert "公民身份号码、户籍地、事实核验：" in content and "其他字段" in content
    assert "待封存" in content and "2人" in content
    shown = re.sub(r"<[^>]+>", " ", content)
    for code in ("api.verifications", "hukou_region_name", "citizen_id", "no_such_field"):
        assert code not in shown
