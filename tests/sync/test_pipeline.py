"""Department sync pipeline on the real PostgreSQL: faults, idempotency, authority, effects."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from population.errors import DomainError
from population.identity import check_digit
from population.models import Person, PersonStatus
from population.sync import selectors, services
from population.sync.models import (
    Batch,
    BatchStatus,
    Fact,
    FollowUp,
    FollowUpKind,
    RejectedRow,
)
from population.sync.parsing import _fast_check_digit
from population.sync.samples import FAULT_REASONS, FAULTS, sample_feed, sample_persons
from tests.sync.helpers import good_record_numbers, make_people

pytestmark = pytest.mark.django_db

DEPARTMENT = {
    "employment": "hrss",
    "social_insurance": "hrss",
    "enrolment": "edu",
    "degree": "edu",
    "property": "housing",
    "rental": "housing",
    "birth_certificate": "health",
    "death": "health",
    "marriage": "civil",
    "divorce": "civil",
    "tax_paid": "tax",
}


def person_state():
    return list(
        Person.objects.order_by("id").values_list(
            "id", "citizen_id", "name", "status", "hukou_region_id", "updated_at"
        )
    )


def fact_events() -> int:
    return Fact.pgh_event_model.objects.count()


def run(feed, *, kind=None, filename=None):
    batch = services.batch_receive(
        department=DEPARTMENT[feed.kind],
        content=feed.content,
        filename=filename or f"{feed.kind}_test.{feed.fmt}",
        fmt=feed.fmt,
        source="api",
        enqueue=False,
    )
    return services.batch_process(batch_id=batch.pk)


@pytest.fixture
def people(make_person):
    return make_people(make_person)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_is_rejected_with_its_line_and_reason_while_good_rows_apply(people, fault, fmt):
    feed = sample_feed(
        kind="employment", persons=sample_persons(), rows=30, seed=7, fmt=fmt, faults={fault: 3}
    )
    before = person_state()

    batch = run(feed)

    assert batch.status == BatchStatus.DONE
    assert (batch.received, batch.applied, batch.unchanged, batch.rejected) == (30, 27, 0, 3)
    rejected = list(
        RejectedRow.objects.filter(batch=batch)
        .order_by("line_no")
        .values_list("line_no", "reason_code")
    )
    assert rejected == [(line, FAULT_REASONS[fault]) for line in feed.faults[fault]]
    assert set(Fact.objects.values_list("record_no", flat=True)) == good_record_numbers(feed)
    assert Fact.objects.filter(batch=batch, department="hrss").count() == 27
    assert fact_events() == 27  # one insert event per applied fact, nothing else
    assert person_state() == before  # a feed never writes a person field
    assert not FollowUp.objects.exists()


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig", "utf-8"])
@pytest.mark.parametrize("kind", sorted(DEPARTMENT))
def test_every_feed_in_every_encoding_applies_its_good_rows(people, kind, encoding):
    faults = {f: 1 for f in FAULTS}
    feed = sample_feed(
        kind=kind, persons=sample_persons(), rows=24, seed=3, encoding=encoding, faults=faults
    )

    batch = run(feed)

    assert batch.encoding == encoding
    assert (batch.received, batch.applied, batch.rejected) == (24, 19, 5)
    assert {(r.line_no, r.reason_code) for r in RejectedRow.objects.filter(batch=batch)} == {
        (feed.faults[f][0], FAULT_REASONS[f]) for f in FAULTS
    }
    assert set(Fact.objects.filter(kind=kind).values_list("record_no", flat=True)) == (
        good_record_numbers(feed)
    )


def test_rejections_give_readable_reasons_and_raw_rows(people):
    feed = sample_feed(
        kind="death",
        persons=sample_persons(),
        rows=10,
        seed=2,
        faults={"bad_check_digit": 1, "malformed_date": 1, "duplicate": 1},
    )
    batch = run(feed)
    rows = {r.reason_code: r for r in RejectedRow.objects.filter(batch=batch)}
    assert rows["citizen_id_check_digit"].reason.startswith("citizen_id：校验码错误：应为")
    assert "YYYY-MM-DD" in rows["invalid_date"].reason
    original = feed.faults["duplicate"][0]
    assert "与第" in rows["duplicate_record"].reason
    assert rows["duplicate_record"].line_no == original
    csv_text = "".join(selectors.rejected_rows_csv(batch=batch))
    lines = csv_text.lstrip("\ufeff").splitlines()
    assert lines[0] == "line,reason_code,reason,raw"
    assert len(lines) == 4
    # Without the full-ID right the numbers in the raw rows are masked.
    for person in Person.objects.all():
        assert person.citizen_id not in csv_text


def test_the_same_batch_twice_changes_nothing_the_second_time(people):
    feed = sample_feed(kind="death", persons=sample_persons(), rows=20, seed=5)
    first = run(feed)
    facts = list(Fact.objects.order_by("id").values())
    events, followups = fact_events(), FollowUp.objects.count()

    again = services.batch_receive(
        department="health", content=feed.content, filename="other_name_death.csv",
        fmt="csv", source="inbox", feed="death", enqueue=False,
    )  # fmt: skip
    services.batch_process(batch_id=again.pk)

    assert again.pk == first.pk
    assert Batch.objects.count() == 1
    assert list(Fact.objects.order_by("id").values()) == facts
    assert (fact_events(), FollowUp.objects.count()) == (events, followups) == (20, 20)


def test_the_same_rows_in_a_new_file_are_unchanged_and_write_no_history(people):
    feed = sample_feed(kind="tax_paid", persons=sample_persons(), rows=20, seed=5)
    run(feed)
    lines = feed.content.decode().splitlines()
    reordered = "\n".join([lines[0], *reversed(lines[1:])]).encode()

    batch = services.batch_receive(
        department="tax", content=reordered, filename="tax_paid_2.csv", fmt="csv",
        source="api", enqueue=False,
    )  # fmt: skip
    batch = services.batch_process(batch_id=batch.pk)

    assert (batch.applied, batch.unchanged, batch.rejected) == (0, 20, 0)
    assert fact_events() == 20


def test_a_changed_row_updates_its_fact_and_records_history(people):
    feed = sample_feed(kind="social_insurance", persons=sample_persons(), rows=5, seed=9)
    run(feed)
    text = feed.content.decode()
    header, first, *rest = text.splitlines()
    fields = first.split(",")
    fields[4] = str(int(fields[4]) + 1)  # one more month of contributions
    changed = "\n".join([header, ",".join(fields), *rest]).encode()

    batch = services.batch_receive(
        department="hrss", content=changed, filename="social_insurance_2.csv", fmt="csv",
        source="api", enqueue=False,
    )  # fmt: skip
    batch = services.batch_process(batch_id=batch.pk)

    assert (batch.applied, batch.unchanged) == (1, 4)
    fact = Fact.objects.get(record_no=fields[0])
    assert (fact.months, fact.batch_id) == (int(fields[4]), batch.pk)
    labels = list(
        Fact.pgh_event_model.objects.filter(pgh_obj_id=fact.pk)
        .order_by("pgh_id")
        .values_list("pgh_label", "months")
    )
    assert labels == [("insert", int(fields[4]) - 1), ("update", int(fields[4]))]


def test_a_department_not_authoritative_for_a_feed_is_refused_and_nothing_recorded(people):
    feed = sample_feed(kind="death", persons=sample_persons(), rows=5, seed=1)
    with pytest.raises(DomainError) as exc:
        services.batch_receive(
            department="tax", content=feed.content, filename="death.csv", fmt="csv",
            source="api", enqueue=False,
        )  # fmt: skip
    assert exc.value.code == "not_authoritative"
    assert not Batch.objects.exists()


@pytest.mark.parametrize(
    ("content", "filename", "code"),
    [
        (b"", "death.csv", "empty_file"),
        (b"record_no,citizen_id\n1,2\n", "death.csv", "unknown_header"),
        ("\udcff".encode("utf-8", "surrogatepass") * 3, "death.csv", "encoding_suspect"),
        (b"x", "death.xlsx", "unknown_format"),
        (b"x", "salary.csv", "unknown_feed"),
    ],
)
def test_a_file_that_is_not_a_feed_is_refused_whole(content, filename, code):
    with pytest.raises(DomainError) as exc:
        services.batch_receive(
            department="health", content=content, filename=filename, fmt=None,
            source="api", enqueue=False,
        )  # fmt: skip
    assert exc.value.code == code
    assert not Batch.objects.exists()


def test_a_name_that_disagrees_with_the_authoritative_one_becomes_a_reconciliation_item(people):
    person = people[0]
    csv_text = (
        "record_no,citizen_id,name,employer,employer_credit_code,start_date,end_date\n"
        f"JY1,{person.citizen_id},张三丰,清远市某公司,91441800MA1,2020-01-01,\n"
    )
    batch = services.batch_receive(
        department="hrss", content=csv_text.encode(), filename="employment_1.csv",
        fmt="csv", source="api", enqueue=False,
    )  # fmt: skip
    services.batch_process(batch_id=batch.pk)

    person.refresh_from_db()
    assert person.name == "测试0"  # 公安's name stands
    item = FollowUp.objects.get()
    assert (item.kind, item.person_id, item.field, item.reported_value, item.library_value) == (
        FollowUpKind.RECONCILIATION,
        person.pk,
        "person.name",
        "张三丰",
        "测试0",
    )
    assert Fact.objects.get().reported_name == "张三丰"


def test_a_death_notice_opens_a_review_item_and_leaves_the_person_active(people):
    person = people[4]
    text = "record_no,citizen_id,name,died_on,institution\n"
    text += f"SW1,{person.citizen_id},测试4,2024-05-01,清远市人民医院\n"
    batch = services.batch_receive(
        department="health", content=text.encode(), filename="death_1.csv", fmt="csv",
        source="api", enqueue=False,
    )  # fmt: skip
    services.batch_process(batch_id=batch.pk)

    person.refresh_from_db()
    assert person.status == PersonStatus.ACTIVE
    item = selectors.followups_open(kind=FollowUpKind.DEATH_CANCELLATION).get()
    assert (item.person_id, item.fact.event_date) == (person.pk, dt.date(2024, 5, 1))
    services.followup_close(followup=item, actor=None, note="已办理死亡注销")
    assert not selectors.followups_open().exists()


def test_a_birth_certificate_opens_a_birth_registration_prompt_for_the_mother(people):
    mother, father = people[1], people[0]
    text = (
        "record_no,citizen_id,name,child_name,child_sex,born_on,hospital,father_citizen_id\n"
        f"Q1,{mother.citizen_id},测试1,小明,1,2025-03-01,清远市妇幼保健院,{father.citizen_id}\n"
    )
    batch = services.batch_receive(
        department="health", content=text.encode(), filename="birth_certificate_1.csv",
        fmt="csv", source="api", enqueue=False,
    )  # fmt: skip
    services.batch_process(batch_id=batch.pk)
    item = FollowUp.objects.get()
    assert (item.kind, item.person_id) == (FollowUpKind.BIRTH_REGISTRATION, mother.pk)
    assert (item.fact.counterpart_id, item.fact.detail["child_name"]) == (father.pk, "小明")


def test_marriage_and_divorce_are_kinship_facts_settlement_rules_can_read(people):
    husband, wife = people[0], people[1]
    header = "record_no,citizen_id,name,spouse_citizen_id,spouse_name,registered_on\n"
    text = header + f"J1,{husband.citizen_id},测试0,{wife.citizen_id},测试1,2015-06-01\n"
    batch = services.batch_receive(
        department="civil", content=text.encode(), filename="marriage_1.csv", fmt="csv",
        source="api", enqueue=False,
    )  # fmt: skip
    services.batch_process(batch_id=batch.pk)
    divorce = "record_no,citizen_id,name,spouse_citizen_id,registered_on\n"
    divorce += f"L1,{husband.citizen_id},测试0,{wife.citizen_id},2020-01-01\n"
    batch = services.batch_receive(
        department="civil", content=divorce.encode(), filename="divorce_1.csv", fmt="csv",
        source="api", enqueue=False,
    )  # fmt: skip
    services.batch_process(batch_id=batch.pk)

    assert selectors.spouse_of(person=husband, on=dt.date(2018, 1, 1)) == wife.citizen_id
    assert selectors.spouse_of(person=wife, on=dt.date(2018, 1, 1)) == husband.citizen_id
    assert selectors.spouse_of(person=husband, on=dt.date(2014, 1, 1)) is None
    assert selectors.spouse_of(person=wife, on=dt.date(2021, 1, 1)) is None
    assert not FollowUp.objects.exists()


def test_progress_is_committed_between_chunks(people, settings):
    settings.SYNC_CHUNK_ROWS = 10
    feed = sample_feed(kind="degree", persons=sample_persons(), rows=40, seed=4)
    batch = services.batch_receive(
        department="edu", content=feed.content, filename="degree.csv", fmt="csv",
        source="api", enqueue=False,
    )  # fmt: skip
    seen = []
    services.batch_process(
        batch_id=batch.pk,
        progress=lambda b: seen.append(selectors.batch_progress(batch_id=b.pk)["percent"]),
    )
    # Staged (0%), then chunks of ten lines of the 41 (header + 40 rows), committed one by one.
    assert seen == [0, 24, 48, 73, 97, 100]
    assert selectors.batch_progress(batch_id=batch.pk, department="edu")["status"] == "done"
    with pytest.raises(DomainError):
        selectors.batch_progress(batch_id=batch.pk, department="hrss")


def test_a_batch_that_keeps_failing_is_quarantined_and_can_be_requeued(people, settings):
    settings.SYNC_MAX_ATTEMPTS = 2
    feed = sample_feed(kind="rental", persons=sample_persons(), rows=5, seed=4)
    batch = services.batch_receive(
        department="housing", content=feed.content, filename="rental.csv", fmt="csv",
        source="api", enqueue=False,
    )  # fmt: skip
    # Two attempts that died (a worker killed twice, say) leave the count at the limit.
    Batch.objects.filter(pk=batch.pk).update(attempts=2, status=BatchStatus.PROCESSING)

    batch = services.batch_process(batch_id=batch.pk)

    assert batch.status == BatchStatus.QUARANTINED
    assert not Fact.objects.exists()
    batch = services.batch_requeue(batch=batch, actor=None, reason="文件已由部门更正")
    assert (batch.status, batch.attempts) == (BatchStatus.RECEIVED, 0)
    assert services.batch_process(batch_id=batch.pk).applied == 5


def test_inbox_scan_receives_files_and_moves_them_aside(people, tmp_path):
    feed = sample_feed(kind="death", persons=sample_persons(), rows=5, seed=4)
    folder = tmp_path / "health"
    folder.mkdir()
    (folder / "death_20250101.csv").write_bytes(feed.content)
    (folder / "salary_20250101.csv").write_bytes(b"a,b\n")

    batches = services.inbox_scan(department="health", inbox=tmp_path)

    assert [(b.feed, b.source) for b in batches] == [("death", "inbox")]
    assert (folder / "accepted" / "death_20250101.csv").exists()
    assert "unknown feed" in (folder / "refused" / "salary_20250101.csv.reason.txt").read_text()
    assert services.inbox_scan(department="health", inbox=tmp_path) == []


def test_ingest_feed_command_reports_counts(people, tmp_path):
    feed = sample_feed(
        kind="property", persons=sample_persons(), rows=12, seed=4, faults={"unknown_id": 2}
    )
    path = tmp_path / "property_2025.csv"
    path.write_bytes(feed.content)
    out = io.StringIO()

    call_command("ingest_feed", str(path), department="housing", verbosity=0, stdout=out)
    call_command("ingest_feed", str(path), department="housing", verbosity=0, stdout=out)

    first, second = out.getvalue().splitlines()
    batch = Batch.objects.get()
    assert first == (f"batch #{batch.pk} done: received 12, applied 10, unchanged 0, rejected 2")
    assert second == first  # the same file again is the same, finished batch
    with pytest.raises(CommandError, match="not authoritative"):
        call_command("ingest_feed", str(path), department="tax", verbosity=0)


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_the_row_fast_path_check_digit_equals_the_reference(first17):
    assert _fast_check_digit(first17) == check_digit(first17)


def test_rows_the_sql_pass_refuses_are_judged_again_in_python(people):
    """Normalisable values apply (legacy 15-digit ID, padded text, an exponent); the rest get
    their reason."""
    p0, p1, p2 = people[0], people[1], people[2]
    legacy = p0.citizen_id[:6] + p0.citizen_id[8:17]
    header = "record_no,citizen_id,name,tax_year,amount,period_start,period_end"
    rows = [
        f"T1,{legacy},测试0,2024,100.5,2024-01-01,2024-12-31",  # line 2: applies
        f"T2,{p1.citizen_id}, 测试1 ,2024,7,2024-01-01,2024-12-31",  # 3: applies, trimmed
        f"T3,{p2.citizen_id},测试2,2024,1e3,2024-01-01,2024-12-31",  # 4: applies, 1000
        f"T4,{p2.citizen_id},测试2,2024,1,2024-12-31,2024-01-01",  # 5: validity_reversed
        f"T5,{p2.citizen_id},{'长' * 51},2024,1,2024-01-01,2024-12-31",  # 6: too_long
        f"T6,{p2.citizen_id},测试2,2024,-1,2024-01-01,2024-12-31",  # 7: invalid_number
        f"T7,{p2.citizen_id[:17]}Y,测试2,2024,1,2024-01-01,2024-12-31",  # 8: characters
        f",{p2.citizen_id},测试2,2024,1,2024-01-01,2024-12-31",  # 9: missing_value
    ]
    batch = services.batch_receive(
        department="tax", content="\n".join([header, *rows]).encode(), filename="tax_paid.csv",
        fmt="csv", source="api", enqueue=False,
    )  # fmt: skip
    batch = services.batch_process(batch_id=batch.pk)

    assert (batch.applied, batch.rejected) == (3, 5)
    assert list(
        RejectedRow.objects.filter(batch=batch)
        .order_by("line_no")
        .values_list("line_no", "reason_code")
    ) == [
        (5, "validity_reversed"),
        (6, "too_long"),
        (7, "invalid_number"),
        (8, "citizen_id_characters"),
        (9, "missing_value"),
    ]
    t1, t2, t3 = Fact.objects.order_by("record_no")
    assert (t1.person_id, t1.amount, t1.detail) == (p0.pk, Decimal("100.50"), {"tax_year": "2024"})
    assert (t2.person_id, t2.reported_name, t2.amount) == (p1.pk, "测试1", Decimal("7.00"))
    assert (t3.person_id, t3.amount) == (p2.pk, Decimal("1000.00"))
    assert not FollowUp.objects.exists()  # the trimmed name equals the library's


def test_an_event_date_after_today_is_rejected(people):
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    text = "record_no,citizen_id,name,died_on,institution\n"
    text += f"SW1,{people[4].citizen_id},测试4,{tomorrow},\n"
    text += f"SW2,{people[6].citizen_id},测试6,{timezone.localdate().isoformat()},\n"
    batch = services.batch_receive(
        department="health", content=text.encode(), filename="death.csv", fmt="csv",
        source="api", enqueue=False,
    )  # fmt: skip
    batch = services.batch_process(batch_id=batch.pk)
    assert (batch.applied, batch.rejected) == (1, 1)
    assert RejectedRow.objects.get().reason_code == "date_in_future"
