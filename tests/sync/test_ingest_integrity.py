"""The bulk path's own guarantees: references checked per statement, the unchanged-row digest,
the plain-CSV COPY path, and chunk sequences that once made the history trigger crawl."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from population import services as population_services
from population.identity import build_citizen_id
from population.models import Person
from population.sync import services
from population.sync.models import Batch, Fact, RejectedRow
from tests.sync.helpers import make_people

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_person):
    return make_people(make_person)


def ingest(department: str, text: str, filename: str) -> Batch:
    batch = services.batch_receive(
        department=department, content=text.encode(), filename=filename, fmt="csv",
        source="api", enqueue=False,
    )  # fmt: skip
    return services.batch_process(batch_id=batch.pk)


def events(fact: Fact) -> list[tuple[str, int]]:
    return list(
        Fact.pgh_event_model.objects.filter(pgh_obj_id=fact.pk)
        .order_by("pgh_id")
        .values_list("pgh_label", "months")
    )


SI_HEADER = "record_no,citizen_id,name,insurance_type,months,as_of,region_code"


def si_rows(people, months: dict[int, int]) -> list[str]:
    return [
        f"S{i},{people[i % len(people)].citizen_id},测试{i % len(people)},基本养老保险,{m},"
        f"2025-01-31,441802006001"
        for i, m in months.items()
    ]


# --- references: checked once per statement, still refused ------------------------------------


def _one_fact(people) -> Fact:
    ingest("hrss", "\n".join([SI_HEADER, *si_rows(people, {0: 12})]), "social_insurance.csv")
    return Fact.objects.get()


@pytest.mark.parametrize("column", ["person_id", "counterpart_id", "batch_id"])
def test_a_fact_referring_to_no_row_is_refused_by_the_database(people, column):
    fact = _one_fact(people)
    missing = 10**9
    columns = {"person_id": fact.person_id, "counterpart_id": None, "batch_id": fact.batch_id}
    columns[column] = missing
    with pytest.raises(IntegrityError, match=f"{column}={missing} refers to no row"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO population_fact (kind, record_no, department, person_id,
                       reported_name, counterpart_citizen_id, counterpart_id, org, region_code,
                       detail, batch_id, created_at, updated_at)
                   VALUES ('social_insurance', 'X1', 'hrss', %s, '测试', '', %s, '', '', '{}',
                           %s, now(), now())""",
                [columns["person_id"], columns["counterpart_id"], columns["batch_id"]],
            )
    with pytest.raises(IntegrityError, match=f"{column}={missing} refers to no row"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE population_fact SET {column} = %s WHERE id = %s",
                [missing, fact.pk],
            )
    fact.refresh_from_db()
    assert getattr(fact, column) != missing
    assert Fact.objects.count() == 1


def test_deleting_a_person_or_batch_a_fact_refers_to_is_refused(people):
    fact = _one_fact(people)
    for table, pk in (("population_person", fact.person_id), ("population_batch", fact.batch_id)):
        with pytest.raises(IntegrityError, match="a department fact still refers"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {table} WHERE id = %s", [pk])
    assert Person.objects.filter(pk=fact.person_id).exists()
    # A person no fact refers to can still go.
    lonely = people[5]
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM population_person WHERE id = %s", [lonely.pk])
    assert not Person.objects.filter(pk=lonely.pk).exists()


def test_a_row_for_no_person_is_rejected_with_its_reason_and_writes_nothing(people):
    stranger = build_citizen_id("441802", dt.date(1980, 5, 5), 777)
    rows = [
        *si_rows(people, {0: 12}),
        f"S9,{stranger},陌生人,基本养老保险,3,2025-01-31,441802006001",
    ]
    batch = ingest("hrss", "\n".join([SI_HEADER, *rows]), "social_insurance.csv")

    assert (batch.applied, batch.rejected) == (1, 1)
    rejected = RejectedRow.objects.get(batch=batch)
    assert (rejected.line_no, rejected.reason_code) == (3, "unknown_person")
    assert "no person with citizen ID" in rejected.reason and stranger not in rejected.reason
    assert not Fact.objects.filter(record_no="S9").exists()


# --- the unchanged-row digest ------------------------------------------------------------------


def test_an_identical_row_after_a_citizen_id_correction_is_not_taken_as_unchanged(people):
    rows = si_rows(people, {0: 12, 1: 7})
    ingest("hrss", "\n".join([SI_HEADER, *rows]), "social_insurance_1.csv")
    person = people[0]
    new_id = build_citizen_id("441802", person.birth_date, 480 + 1)
    population_services.person_correct_citizen_id(
        person=person, new_citizen_id=new_id, actor=None, reason="重号更正"
    )

    again = ingest("hrss", "\n".join([SI_HEADER, *reversed(rows)]), "social_insurance_2.csv")

    # The old number names no person of the library any more: that row is refused, not skipped.
    assert (again.applied, again.unchanged, again.rejected) == (0, 1, 1)
    assert RejectedRow.objects.get(batch=again).reason_code == "unknown_person"


def test_an_identical_row_whose_counterpart_arrived_since_links_the_counterpart(
    people, make_person
):
    husband = people[0]
    spouse_id = build_citizen_id("441802", dt.date(1991, 3, 3), 400)
    header = "record_no,citizen_id,name,spouse_citizen_id,spouse_name,registered_on"
    row = f"J1,{husband.citizen_id},测试0,{spouse_id},李四,2015-06-01"
    ingest("civil", f"{header}\n{row}\n", "marriage_1.csv")
    fact = Fact.objects.get()
    assert (fact.counterpart_citizen_id, fact.counterpart_id) == (spouse_id, None)

    spouse = population_services.person_create(
        citizen_id=spouse_id, name="李四", hukou_region=None, actor=None, reason="测试"
    )
    again = ingest("civil", f"{header}\r\n{row}\r\n", "marriage_2.csv")

    fact.refresh_from_db()
    assert (again.applied, again.unchanged) == (1, 0)
    assert fact.counterpart_id == spouse.pk
    assert list(
        Fact.pgh_event_model.objects.filter(pgh_obj_id=fact.pk).values_list(
            "pgh_label", "counterpart_id"
        )
    ) == [("insert", None), ("update", spouse.pk)]


def test_an_unchanged_reload_writes_nothing_but_still_reports_a_renamed_person(people):
    rows = si_rows(people, {0: 12, 1: 7, 2: 3})
    ingest("hrss", "\n".join([SI_HEADER, *rows]), "social_insurance_1.csv")
    before = list(Fact.objects.order_by("id").values())
    Person.objects.filter(pk=people[1].pk).update(name="改名后")

    again = ingest("hrss", "\n".join([SI_HEADER, *reversed(rows)]), "social_insurance_2.csv")

    assert (again.applied, again.unchanged, again.rejected) == (0, 3, 0)
    assert list(Fact.objects.order_by("id").values()) == before
    assert Fact.pgh_event_model.objects.count() == 3
    item = again.followups.get()
    assert (item.kind, item.reported_value, item.library_value) == (
        "reconciliation",
        "测试1",
        "改名后",
    )


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("months", "99"),
        ("event_date", "'2024-12-31'"),
        ("region_code", "'441802006002'"),
        ("reported_name", "'别名'"),
        ("detail", """'{"insurance_type": "失业保险"}'"""),
        ("amount", "1.50"),
    ],
)
def test_a_fact_changed_since_by_anyone_is_written_again_by_an_identical_row(people, column, value):
    rows = si_rows(people, {0: 12, 1: 7})
    ingest("hrss", "\n".join([SI_HEADER, *rows]), "social_insurance_1.csv")
    before = Fact.objects.get(record_no="S0")
    with connection.cursor() as cursor:  # an edit outside the feeds: the digest follows it
        cursor.execute(f"UPDATE population_fact SET {column} = {value} WHERE record_no = 'S0'")

    again = ingest("hrss", "\n".join([SI_HEADER, *reversed(rows)]), "social_insurance_2.csv")

    assert (again.applied, again.unchanged, again.rejected) == (1, 1, 0)
    fact = Fact.objects.get(record_no="S0")
    assert (fact.months, fact.event_date, fact.region_code, fact.reported_name) == (
        before.months, before.event_date, before.region_code, before.reported_name,
    )  # fmt: skip
    assert (fact.detail, fact.amount) == (before.detail, None)
    # the edit and the feed that put the value back, both in the history
    assert [label for label, _ in events(fact)] == ["insert", "update", "update"]


def test_an_identical_row_with_json_escaped_detail_is_unchanged(people):
    # The digest writes the row's detail out as jsonb prints it: escapes and Chinese included.
    row = f"S9,{people[0].citizen_id},测试0,基本\\养老\t保险,12,2025-01-31,"
    ingest("hrss", f"{SI_HEADER}\n{row}\n", "social_insurance_1.csv")
    assert Fact.objects.get().detail == {"insurance_type": "基本\\养老\t保险"}

    again = ingest("hrss", f"{SI_HEADER}\r\n{row}\r\n", "social_insurance_2.csv")

    assert (again.applied, again.unchanged, again.rejected) == (0, 1, 0)
    assert Fact.pgh_event_model.objects.count() == 1


def test_an_unchanged_row_repeated_in_the_file_is_counted_once_and_its_repeat_rejected(people):
    rows = si_rows(people, {0: 12, 1: 7})
    ingest("hrss", "\n".join([SI_HEADER, *rows]), "social_insurance_1.csv")
    changed = si_rows(people, {0: 13})[0]

    # line 2 unchanged, line 3 the same record changed, line 4 the unchanged row again
    again = ingest(
        "hrss", "\n".join([SI_HEADER, rows[0], changed, rows[0], rows[1]]), "social_insurance_2.csv"
    )

    assert (again.received, again.applied, again.unchanged, again.rejected) == (4, 0, 2, 2)
    assert list(
        RejectedRow.objects.filter(batch=again)
        .order_by("line_no")
        .values_list("line_no", "reason_code", "raw")
    ) == [(3, "duplicate_record", changed), (4, "duplicate_record", rows[0])]
    assert Fact.objects.get(record_no="S0").months == 12
    assert Fact.pgh_event_model.objects.count() == 2


def test_a_padded_record_number_typed_in_python_repeats_an_unchanged_row(people):
    rows = si_rows(people, {0: 12, 1: 7})
    ingest("hrss", "\n".join([SI_HEADER, *rows]), "social_insurance_1.csv")
    padded = " " + si_rows(people, {0: 20})[0]  # " S0,...": Python trims it to S0

    again = ingest("hrss", "\n".join([SI_HEADER, padded, *rows]), "social_insurance_2.csv")

    assert (again.applied, again.unchanged, again.rejected) == (1, 1, 1)
    assert list(
        RejectedRow.objects.filter(batch=again).values_list("line_no", "reason_code", "raw")
    ) == [(3, "duplicate_record", rows[0])]
    assert Fact.objects.get(record_no="S0").months == 20


def test_a_file_sent_to_the_server_in_pieces_is_stored_byte_for_byte(people, monkeypatch):
    from population.sync import pipeline

    monkeypatch.setattr(pipeline, "CONTENT_PIECE_BYTES", 100)
    rows = si_rows(people, {i: i + 1 for i in range(8)})
    content = ("\ufeff" + "\r\n".join([SI_HEADER, *rows]) + "\r\n").encode()
    assert len(content) > 600  # seven pieces

    batch = services.batch_receive(
        department="hrss", content=content, filename="social_insurance.csv", fmt="csv",
        source="api", enqueue=False,
    )  # fmt: skip
    batch = services.batch_process(batch_id=batch.pk)

    assert bytes(Batch.objects.get(pk=batch.pk).content) == content
    assert (batch.received, batch.applied, batch.rejected) == (8, 8, 0)
    assert Fact.objects.get(record_no="S7").months == 8


# --- plain CSV through COPY, the rest through the Python reader --------------------------------


def test_a_plain_csv_and_the_same_rows_quoted_give_the_same_outcome(people):
    rows = si_rows(people, {0: 12, 1: 7, 2: 3, 3: 4})
    plain_lines = [
        SI_HEADER,
        rows[0],
        "",  # a blank line is skipped but keeps the numbering
        rows[1] + ",extra",  # line 4: one column too many
        rows[2],
        "S8,short",  # line 6: too few
        rows[3],
    ]
    plain = "\r\n".join(plain_lines) + "\r\n"
    quoted = plain.replace("基本养老保险", '"基本养老保险"')
    first = ingest("hrss", plain, "social_insurance_plain.csv")
    facts_plain = list(
        Fact.objects.order_by("record_no").values_list("record_no", "months", "detail")
    )
    rejected_plain = list(
        RejectedRow.objects.filter(batch=first)
        .order_by("line_no")
        .values_list("line_no", "reason_code", "raw")
    )
    Fact.objects.update(months=0)  # so that the quoted file has something to write

    second = ingest("hrss", quoted, "social_insurance_quoted.csv")

    assert (first.received, first.applied, first.rejected) == (5, 3, 2)
    assert (second.received, second.applied, second.rejected) == (5, 3, 2)
    assert rejected_plain == [
        (4, "wrong_column_count", rows[1] + ",extra"),
        (6, "wrong_column_count", "S8,short"),
    ]
    assert [r[:2] for r in rejected_plain] == list(
        RejectedRow.objects.filter(batch=second)
        .order_by("line_no")
        .values_list("line_no", "reason_code")
    )
    assert (
        list(Fact.objects.order_by("record_no").values_list("record_no", "months", "detail"))
        == facts_plain
    )
    assert facts_plain[0] == ("S0", 12, {"insurance_type": "基本养老保险"})


# --- chunk sequences: every change recorded, whatever came before in the session -----------------


@pytest.mark.parametrize("first_chunk", ["unchanged", "all new"])
def test_a_changed_chunk_after_a_chunk_that_updated_nothing_records_every_change(
    people, settings, first_chunk
):
    """Regression: the history trigger's join was planned once per session; planned on a chunk
    that updated nothing, it crawled on the next chunk's updates (now planned per run)."""
    settings.SYNC_CHUNK_ROWS = 10
    base = dict.fromkeys(range(20), 5)
    ingest("hrss", "\n".join([SI_HEADER, *si_rows(people, base)]), "social_insurance_1.csv")
    if first_chunk == "unchanged":
        lead = si_rows(people, dict.fromkeys(range(9), 5))  # lines 2-10: as loaded
    else:
        lead = si_rows(people, dict.fromkeys(range(100, 109), 5))  # lines 2-10: new records
    changed = si_rows(people, dict.fromkeys(range(9, 20), 6))  # lines 11-21: each one more

    batch = ingest("hrss", "\n".join([SI_HEADER, *lead, *changed]), "social_insurance_2.csv")

    assert batch.applied == 11 + (9 if first_chunk == "all new" else 0)
    assert batch.unchanged == (9 if first_chunk == "unchanged" else 0)
    for i in range(20):
        fact = Fact.objects.get(record_no=f"S{i}")
        expected = [("insert", 5)] + ([("update", 6)] if i >= 9 else [])
        assert (fact.months, events(fact)) == (6 if i >= 9 else 5, expected)


# --- the SQL checks never pass what Python refuses, and type values as Python does -------------

_VARIANTS = {
    "record_no": ["S1", " S1", "S1\u3000", "\u2000S1", "S" * 65, ""],
    "name": ["测试", "测试\x1f", "\xa0测试", "a b", "长" * 51],
    "months": ["0", "007", "123456789", "1234567890", "+5", "5 ", "１２", "", "1e3"],
    "as_of": ["2024-02-29", "2023-02-29", "1899-12-31", "2099-12-31", "2024-1-05", "2024-13-01",
              "２０２４-01-01", "2024-01-01 ", "9999-12-31"],
    "region_code": ["441802006001", "44180200600", "４41802006001", "", "4418020060011"],
}  # fmt: skip


def test_a_row_the_sql_checks_pass_is_one_python_passes_with_the_same_typed_values(people):
    from population.sync import sqlchecks
    from population.sync.feeds import feed_get
    from population.sync.parsing import RowError, row_converter

    columns = feed_get("social_insurance").columns(1)
    base = {
        "record_no": "S1", "citizen_id": people[0].citizen_id, "name": "测试",
        "insurance_type": "基本养老保险", "months": "12", "as_of": "2024-06-30",
        "region_code": "441802006001",
    }  # fmt: skip
    rows = [base] + [
        {**base, column: value} for column, values in _VARIANTS.items() for value in values
    ]
    width = len(columns)
    today = timezone.localdate().isoformat()
    convert = row_converter(columns)
    outcomes = {"sql": 0, "python only": 0}
    with connection.cursor() as cursor:
        for row in rows:
            values = [row[c.name] for c in columns]
            raw = ", ".join(f"%(v{i})s::text AS c{i}" for i in range(width))
            params = {
                **{f"v{i}": (v or None) for i, v in enumerate(values)},
                "today": today,
                "today_compact": today.replace("-", ""),
            }
            source = f"(SELECT 0 AS line_no, {raw}) r"
            cursor.execute(f"SELECT {sqlchecks.row_ok(columns)} FROM {source}", params)
            ok = cursor.fetchone()[0]
            if ok:
                cursor.execute(f"SELECT {sqlchecks.typed_select(columns)} FROM {source}", params)
                _line_no, *typed = cursor.fetchone()
            try:
                python = convert(values)
            except RowError:
                python = None
            if ok:
                outcomes["sql"] += 1
                assert python is not None, values
                as_text = [None if v is None else str(v) for v in typed[:-1]]
                assert as_text == [None if v is None else str(v) for v in python[:-1]], values
                assert json.loads(typed[-1]) == json.loads(python[-1]), values
            elif python is not None:
                outcomes["python only"] += 1
    assert outcomes["sql"] >= 8 and outcomes["python only"] >= 5, outcomes
