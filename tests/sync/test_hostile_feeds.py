"""Hostile feed files: each bad row is a rejected row with its line and reason while the rest of
the file applies; a file that is not text in a known encoding is refused whole; nothing else
changes; memory stays bounded (a child ``ingest_feed`` is measured)."""

from __future__ import annotations

import gzip
import io
import json
import random
import zipfile
from pathlib import Path

import pytest

from bench.bench_feed_memory import unknown_citizen_id, write_rejected_rows
from bench.peak_memory import ingest_peak
from population.errors import DomainError
from population.models import Person
from population.sync import services
from population.sync.models import Batch, BatchStatus, Fact, FollowUp, RejectedRow
from population.sync.parsing import MAX_LINE_BYTES
from tests.dburl import subprocess_database_url
from tests.sync.helpers import make_people

pytestmark = pytest.mark.django_db

HEADER = "record_no,citizen_id,name,employer,employer_credit_code,start_date,end_date"
ROOT = Path(__file__).resolve().parents[2]
MEMORY_BOUND = 200 * 1024 * 1024
# What a 50 MB line may add to the command's peak: less than the line itself.
FILE_MEMORY_BOUND = 40 * 1024 * 1024


@pytest.fixture
def people(make_person):
    return make_people(make_person, n=24)


def csv_row(i: int, person, *, employer: str = "某公司", name: str | None = None) -> str:
    return (
        f"E{i},{person.citizen_id},{person.name if name is None else name},{employer},"
        "91440700MA00000000,2024-01-01,"
    )


def json_row(i: int, person, **extra) -> str:
    obj = {
        "record_no": f"E{i}",
        "citizen_id": person.citizen_id,
        "name": person.name,
        "employer": "某公司",
        "employer_credit_code": "91440700MA00000000",
        "start_date": "2024-01-01",
        **extra,
    }
    return json.dumps(obj, ensure_ascii=False)


def person_state():
    return list(
        Person.objects.order_by("id").values_list(
            "id", "citizen_id", "name", "status", "updated_at"
        )
    )


def receive(content, filename="employment_2025.csv", fmt=None, encoding=None):
    declared = {"encoding": encoding} if encoding else {}
    return services.batch_receive(
        department="hrss", content=content, filename=filename, fmt=fmt, source="api",
        enqueue=False, **declared,
    )  # fmt: skip


# -- bad rows: rejected with line and reason, the rest applies ---------------------------------


def _lines(people, bad: dict[int, bytes], *, rows: int = 22, encoding="utf-8", newline=b"\n"):
    """A CSV of ``rows`` good rows with the bad lines put at their line numbers; the good
    rows' record numbers."""
    lines = [HEADER.encode()]
    good = set()
    for i in range(rows + len(bad)):
        line_no = len(lines) + 1
        if line_no in bad:
            lines.append(bad[line_no])
        else:
            lines.append(csv_row(i, people[i % len(people)]).encode(encoding))
            good.add(f"E{i}")
    return newline.join(lines) + newline, good


def _bad_row(people, i, **kwargs) -> str:
    return csv_row(i, people[0], **kwargs)


CASES = {
    # a NUL byte in a value: PostgreSQL text cannot hold it
    "nul": lambda p: (
        {3: _bad_row(p, 900, name="张\x00三").encode()},
        "utf-8",
        {3: "invalid_character"},
    ),
    # a field of 200 KB (the line is over the bound)
    "long_field": lambda p: (
        {4: _bad_row(p, 901, employer="公" * 70_000).encode()},
        "utf-8",
        {4: "line_too_long"},
    ),
    # an unclosed quote: it once swallowed every following row
    "unclosed_quote": lambda p: (
        {2: _bad_row(p, 902, employer='"某公司').encode()},
        "utf-8",
        {2: "unclosed_quote"},
    ),
    # undecodable bytes on one line of a UTF-8 file
    "undecodable_utf8": lambda p: (
        {5: _bad_row(p, 903).encode() + b"\xff\xfe"},
        "utf-8",
        {5: "undecodable"},
    ),
    # a GBK file with one line that is not GBK
    "undecodable_gbk": lambda p: (
        {6: _bad_row(p, 904, name="").encode("gbk") + b"\x81\x20"},
        "gbk",
        {6: "undecodable"},
    ),
    # two of them at once, and a wrong column count, next to each other
    "several": lambda p: (
        {
            2: _bad_row(p, 905, employer='"x').encode(),
            3: b"E906,short",
            4: _bad_row(p, 907, employer="x" * (MAX_LINE_BYTES + 1)).encode(),
        },
        "utf-8",
        {2: "unclosed_quote", 3: "wrong_column_count", 4: "line_too_long"},
    ),
}


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_row_is_rejected_with_its_line_and_the_rest_applies(people, case, newline):
    bad, encoding, expected = CASES[case](people)
    content, good = _lines(people, bad, encoding=encoding, newline=newline)
    before = person_state()

    batch = services.batch_process(batch_id=receive(content).pk)

    assert batch.status == BatchStatus.DONE
    assert batch.encoding == encoding
    assert (batch.received, batch.applied, batch.rejected) == (
        len(good) + len(expected),
        len(good),
        len(expected),
    )
    rejected = {
        r.line_no: (r.reason_code, r.reason, r.raw) for r in RejectedRow.objects.filter(batch=batch)
    }
    assert {n: code for n, (code, _, _) in rejected.items()} == expected
    for _code, reason, raw in rejected.values():
        zh, en = reason.split(" / ", 1)
        assert zh and en.isascii()
        assert len(raw) <= 1001 and "\x00" not in raw
    assert set(Fact.objects.values_list("record_no", flat=True)) == good
    assert person_state() == before
    assert not FollowUp.objects.exists()


JSON_CASES = {
    "deep_line": ('{"record_no": ' + "[" * 100_000, "too_deep"),
    "nested_value": (None, "too_deep"),
    "nul_escaped": (None, "invalid_character"),
    "long_line": (None, "line_too_long"),
    "not_an_object": ("[1, 2]", "invalid_json"),
    "undecodable": (None, "undecodable"),
}


@pytest.mark.parametrize("case", sorted(JSON_CASES))
def test_a_bad_json_line_is_rejected_with_its_line_and_the_rest_applies(people, case):
    text, code = JSON_CASES[case]
    bad = {
        "nested_value": json_row(900, people[0], employer={"a": [1, {"b": 2}]}).encode(),
        "nul_escaped": json_row(901, people[0], name="张\u0000三").encode(),
        "long_line": json_row(902, people[0], employer="公" * 100_000).encode(),
        "undecodable": json_row(903, people[0]).encode()[:-1] + b'\xff"}',
    }.get(case) or text.encode()
    lines = [json_row(i, people[i]).encode() for i in range(20)]
    lines.insert(4, bad)  # line 5
    before = person_state()

    batch = services.batch_process(
        batch_id=receive(b"\n".join(lines) + b"\n", "employment.jsonl").pk
    )

    assert (batch.status, batch.received, batch.applied, batch.rejected) == ("done", 21, 20, 1)
    assert list(RejectedRow.objects.filter(batch=batch).values_list("line_no", "reason_code")) == [
        (5, code)
    ]
    assert Fact.objects.count() == 20
    assert person_state() == before


def test_a_header_only_file_is_a_finished_batch_of_no_rows(people):
    before = person_state()
    batch = services.batch_process(batch_id=receive(f"\ufeff{HEADER}\r\n".encode()).pk)
    assert (batch.status, batch.received, batch.applied, batch.rejected) == ("done", 0, 0, 0)
    assert not Fact.objects.exists() and person_state() == before


def test_a_declared_encoding_is_the_one_read(people):
    content, good = _lines(people, {}, encoding="gbk")
    batch = services.batch_process(batch_id=receive(content, encoding="GB18030").pk)
    assert (batch.encoding, batch.applied) == ("gbk", len(good))
    assert set(Fact.objects.values_list("reported_name", flat=True)) == {
        p.name for p in people[:22]
    }  # read as GBK, not garbled
    with pytest.raises(DomainError) as exc:
        receive(content + b"\n", encoding="big5")
    assert exc.value.code == "unsupported_encoding"


# -- whole files refused: nothing recorded -----------------------------------------------------


def _traditional(people, codec: str) -> bytes:
    names = ["王小明", "李建國", "張偉", "陳淑芬", "黃俊傑", "劉德華"]
    lines = [HEADER] + [
        csv_row(i, people[i], name=names[i % len(names)], employer="臺北市測試公司")
        for i in range(12)
    ]
    return "\n".join(lines).encode(codec) + b"\n"


def _japanese(people) -> bytes:
    lines = [HEADER] + [
        csv_row(i, people[i], name="山田太郎", employer="株式会社テスト") for i in range(12)
    ]
    return "\n".join(lines).encode("shift_jis") + b"\n"


def _zip_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("employment.csv", b"0" * (64 << 20))
    return buf.getvalue()


def _mostly_replacement(people) -> bytes:
    content, _ = _lines(people, {})
    lines = content.split(b"\n")
    return b"\n".join(line + b"\xe9" if i % 3 == 1 else line for i, line in enumerate(lines))


REFUSED = {
    "empty": (lambda p: b"", "empty_file"),
    "bom_only": (lambda p: b"\xef\xbb\xbf", "empty_file"),
    "blank_lines": (lambda p: b"\r\n\n  \n", "empty_file"),
    "utf16_bom": (
        lambda p: ("\ufeff" + _lines(p, {})[0].decode()).encode("utf-16-le"),
        "encoding_suspect",
    ),
    "utf16_no_bom": (lambda p: _lines(p, {})[0].decode().encode("utf-16-le"), "encoding_suspect"),
    "utf16_be": (lambda p: _lines(p, {})[0].decode().encode("utf-16"), "encoding_suspect"),
    "big5": (lambda p: _traditional(p, "big5"), "encoding_suspect"),
    "shift_jis": (_japanese, "encoding_suspect"),
    "binary": (lambda p: random.Random(5).randbytes(256 << 10), "encoding_suspect"),
    "gzip_bomb": (lambda p: gzip.compress(b"\0" * (64 << 20)), "encoding_suspect"),
    "zip_bomb": (lambda p: _zip_bomb(), "encoding_suspect"),
    "mostly_replacement": (_mostly_replacement, "encoding_suspect"),
    "undecodable_header": (lambda p: b"\xff" + _lines(p, {})[0], "encoding_suspect"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_file_that_is_not_feed_text_is_refused_whole_and_nothing_recorded(people, case):
    make, code = REFUSED[case]
    content = make(people)
    before = person_state()

    with pytest.raises(DomainError) as exc:
        receive(content)

    assert exc.value.code == code
    assert not Batch.objects.exists() and not Fact.objects.exists()
    assert person_state() == before


def test_traditional_chinese_in_gbk_is_gbk_not_suspect(people):
    content = _traditional(people, "gbk")
    batch = receive(content)
    assert batch.encoding == "gbk"


# -- memory: a child ingest_feed on files with a 50 MB line ------------------------------------


def _ingest_peak_rss(path: Path) -> tuple[int, str]:
    """Peak RSS (bytes) of a child ``manage.py ingest_feed`` and its report line."""
    return ingest_peak(path, env={"DATABASE_URL": subprocess_database_url()})


def _with_a_huge_line(people, path: Path, *, fmt: str, quoted: bool) -> set[str]:
    good = set()
    with path.open("wb") as f:
        if fmt == "csv":
            f.write(HEADER.encode() + b"\n")
        for i in range(10):
            if i == 3:
                # A 50 MB line: one 50 MB field (quoted or not), or a 50 MB JSON string.
                big = b"x" * (50 << 20)
                if fmt == "csv":
                    f.write(f"H{i},{people[i].citizen_id},{people[i].name},".encode())
                    f.write(b'"' + big + b'"' if quoted else big)
                    f.write(b",91440700MA00000000,2024-01-01,\n")
                else:
                    f.write(b'{"record_no": "H3", "employer": "' + big + b'"}\n')
                continue
            line = csv_row(i, people[i]) if fmt == "csv" else json_row(i, people[i])
            if quoted and fmt == "csv":
                line = line.replace("某公司", '"某,公司"')
            f.write(line.encode() + b"\n")
            good.add(f"E{i}")
    return good


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("fmt", "quoted"),
    [("csv", False), ("csv", True), ("jsonl", False)],
    ids=["csv_split_in_server", "csv_quoted_streamed", "jsonl_streamed"],
)
def test_a_50_mb_line_is_rejected_without_being_held(make_person, tmp_path, fmt, quoted):
    people = make_people(make_person, n=12)
    path = tmp_path / f"employment_big.{fmt}"
    good = _with_a_huge_line(people, path, fmt=fmt, quoted=quoted)
    header_only = tmp_path / f"employment_empty.{fmt}"
    header_only.write_bytes(HEADER.encode() + b"\n" if fmt == "csv" else b"\n{}\n")
    baseline, _ = _ingest_peak_rss(header_only)

    peak, report = _ingest_peak_rss(path)

    batch = Batch.objects.latest("id")
    line = 5 if fmt == "csv" else 4
    assert report.startswith(f"batch #{batch.pk} done: received 10, applied 9")
    rejected = RejectedRow.objects.filter(batch=batch)
    assert list(rejected.values_list("line_no", "reason_code")) == [(line, "line_too_long")]
    assert len(rejected.get().raw) <= 1001
    assert set(Fact.objects.values_list("record_no", flat=True)) == good
    # The file adds little to what the command takes for a header-only file: the 50 MB line
    # is never held (once as bytes would already add 50 MB). The whole process's peak is
    # also asserted, with the bound counted from the same baseline (see bench/bench_feed_memory).
    growth = peak - baseline
    assert growth < FILE_MEMORY_BOUND, (
        f"peak {peak / 2**20:.0f} MiB, baseline {baseline / 2**20:.0f}"
    )
    assert growth < MEMORY_BOUND


def test_many_bad_rows_are_all_recorded_through_the_spill_table(people, settings):
    """More rejections than the reader keeps in memory (5,000): all recorded, in line order,
    with the good rows between them applied."""
    lines = [HEADER]
    good = set()
    for i in range(12_000):
        if i % 1000 == 0:
            lines.append(csv_row(i, people[(i // 1000) % len(people)]))
            good.add(f"E{i}")
        else:
            lines.append(f'B{i},"x",short')  # quoted: read by the line reader; too few columns
    before = person_state()

    batch = services.batch_process(batch_id=receive(("\n".join(lines) + "\n").encode()).pk)

    assert (batch.received, batch.applied, batch.rejected) == (12_000, 12, 11_988)
    rows = RejectedRow.objects.filter(batch=batch)
    assert rows.count() == 11_988
    assert set(rows.values_list("reason_code", flat=True)) == {"wrong_column_count"}
    assert rows.order_by("line_no").first().line_no == 3
    assert set(Fact.objects.values_list("record_no", flat=True)) == good
    assert person_state() == before


# -- memory: rows the SQL checks reject --------------------------------------------------------

ROWS = 10_000
# What four times the rejected rows may add to the command's peak. Held in the worker, 30,000
# more rejections cost about 55 MiB (unknown persons, 1.8 KB a row) or 35 MiB (wrong column
# counts); streamed to the rejected-row table they cost nothing that grows with them.
ROWS_MEMORY_BOUND = 12 * 1024 * 1024


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("kind", "code"),
    [("wrong_columns", "wrong_column_count"), ("unknown", "unknown_person")],
)
def test_rows_the_sql_checks_reject_do_not_grow_the_command(tmp_path, kind, code):
    """Plain CSV files judged where they are stored: every row one column short (the server's
    split), or every row well-formed for a person the library does not hold."""
    peaks = {}
    for rows in (ROWS, 4 * ROWS):
        path = tmp_path / f"employment_{kind}_{rows}.csv"
        write_rejected_rows(path, rows, kind=kind, offset=rows * 10)
        peak, report = _ingest_peak_rss(path)
        batch = Batch.objects.latest("id")
        assert report == (
            f"batch #{batch.pk} done: received {rows}, applied 0, unchanged 0, rejected {rows}"
        )
        rejected = RejectedRow.objects.filter(batch=batch)
        assert rejected.count() == rows
        assert set(rejected.values_list("reason_code", flat=True)) == {code}
        # One per line, in line order, each with its own line's text.
        numbers = list(rejected.order_by("id").values_list("line_no", flat=True))
        assert numbers == list(range(2, rows + 2))
        last = rejected.get(line_no=rows + 1)
        cid = unknown_citizen_id(rows * 10 + rows - 1)
        assert last.raw.split(",")[:2] == [f"{kind[0].upper()}{rows * 10 + rows - 1}", cid]
        if kind == "unknown":
            assert cid[:6] + "********" + cid[-4:] in last.reason
        else:
            assert "expected 7 columns, got 6" in last.reason
        peaks[rows] = peak
    assert not Fact.objects.exists()
    growth = peaks[4 * ROWS] - peaks[ROWS]
    assert growth < ROWS_MEMORY_BOUND, (
        f"peak {peaks[ROWS] / 2**20:.0f} MiB at {ROWS} rows, "
        f"{peaks[4 * ROWS] / 2**20:.0f} MiB at {4 * ROWS}"
    )
