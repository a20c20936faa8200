"""Realistic sample feeds keyed to the demo city, with faults injected at known lines.

``sample_feed`` draws persons from the library (``sample_persons``), writes a feed of any kind
in CSV or JSON Lines, in UTF-8, UTF-8 with BOM or GBK, and returns the line numbers of each
injected fault, so tests and demos know exactly which rows must be rejected and why.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from dataclasses import dataclass, field

from population.identity import build_citizen_id
from population.models import Person, PersonStatus
from population.sync.feeds import FactKind, feed_get

FAULTS = ("bad_check_digit", "unknown_id", "duplicate", "malformed_date", "wrong_columns")
# Reason codes the pipeline gives each fault (a malformed date or a wrong check digit is found
# in Python, an unknown ID or a duplicate in SQL).
FAULT_REASONS = {
    "bad_check_digit": "citizen_id_check_digit",
    "unknown_id": "unknown_person",
    "duplicate": "duplicate_record",
    "malformed_date": "invalid_date",
    "wrong_columns": "wrong_column_count",
}
ENCODINGS = ("utf-8", "utf-8-sig", "gbk")

EMPLOYERS = (
    "清远市华粤建材有限公司", "广东清新玻璃制品有限公司", "清远市美林电器有限公司",
    "英德市宝晟茶业有限公司", "连州市鸿达五金厂", "清远市清城区人民医院",
    "广东清远高新技术产业开发区管理委员会", "佛冈县恒信纺织有限公司", "清远市顺丰速运有限公司",
)  # fmt: skip
SCHOOLS = ("清远市第一中学", "清远市华侨中学", "英德中学", "连州中学", "清远职业技术学院")
INSTITUTIONS = ("清远职业技术学院", "广东技术师范大学", "华南师范大学", "广州大学", "中山大学")
LEVELS = ("专科", "本科", "硕士", "博士")
HOSPITALS = ("清远市人民医院", "清远市妇幼保健院", "英德市人民医院", "连州市人民医院")
STREETS = ("北江路", "先锋路", "人民路", "连江路", "桥北路", "凤翔大道", "松岗大道")
INSURANCE = ("基本养老保险", "基本医疗保险", "失业保险", "工伤保险")


@dataclass
class SamplePerson:
    citizen_id: str
    name: str
    sex: int
    birth_date: dt.date
    region: str


@dataclass
class SampleFeed:
    kind: str
    fmt: str
    encoding: str
    content: bytes
    rows: int  # data rows written, faulty ones included
    faults: dict[str, list[int]] = field(default_factory=dict)  # fault -> line numbers

    @property
    def bad_lines(self) -> set[int]:
        return {line for lines in self.faults.values() for line in lines}


def sample_persons(*, limit: int | None = None) -> list[SamplePerson]:
    """Living persons of the library in id order (the demo city when it was seeded)."""
    qs = (
        Person.objects.filter(status=PersonStatus.ACTIVE)
        .order_by("id")
        .values_list("citizen_id", "name", "sex", "birth_date", "residence_region_id")
    )
    if limit:
        qs = qs[:limit]
    return [SamplePerson(c, n, s, b, r or "441802006001") for c, n, s, b, r in qs]


def _date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randrange(max(1, (end - start).days)))


class _Rows:
    def __init__(self, rng: random.Random, persons: list[SamplePerson], today: dt.date) -> None:
        self.rng = rng
        self.persons = persons
        self.women = [p for p in persons if p.sex == 2 and 20 <= _age(p, today) <= 45] or persons
        self.men = [p for p in persons if p.sex == 1 and _age(p, today) >= 22] or persons
        self.old = [p for p in persons if _age(p, today) >= 60] or persons
        self.today = today

    def person(self, pool=None) -> SamplePerson:
        return self.rng.choice(pool or self.persons)

    def row(self, kind: str, i: int) -> dict[str, str]:
        rng, today = self.rng, self.today
        if kind == FactKind.MARRIAGE or kind == FactKind.DIVORCE:
            wife, husband = self.person(self.women), self.person(self.men)
            registered = _date(rng, dt.date(2000, 1, 1), today)
            row = {
                "record_no": f"{'J' if kind == FactKind.MARRIAGE else 'L'}"
                f"{husband.region[:6]}-{registered.year}-{i:07d}",
                "citizen_id": husband.citizen_id,
                "name": husband.name,
                "spouse_citizen_id": wife.citizen_id,
                "registered_on": registered.isoformat(),
            }
            if kind == FactKind.MARRIAGE:
                row = {**row, "spouse_name": wife.name}
                row["registered_on"] = row.pop("registered_on")
            return row
        if kind == FactKind.BIRTH_CERTIFICATE:
            mother = self.person(self.women)
            father = self.person(self.men)
            return {
                "record_no": f"Q{today.year % 100:02d}{i:08d}",
                "citizen_id": mother.citizen_id,
                "name": mother.name,
                "child_name": father.name[0] + rng.choice("嘉欣子涵浩宇梓轩思颖"),
                "child_sex": str(rng.choice((1, 2))),
                "born_on": _date(rng, today - dt.timedelta(days=300), today).isoformat(),
                "hospital": rng.choice(HOSPITALS),
                "father_citizen_id": father.citizen_id if rng.random() < 0.9 else "",
            }
        if kind == FactKind.DEATH:
            p = self.person(self.old)
            return {
                "record_no": f"SW{p.region[:6]}{i:08d}",
                "citizen_id": p.citizen_id,
                "name": p.name,
                "died_on": _date(rng, today - dt.timedelta(days=90), today).isoformat(),
                "institution": rng.choice(HOSPITALS),
            }
        p = self.person()
        base = {"citizen_id": p.citizen_id, "name": p.name}
        if kind == FactKind.EMPLOYMENT:
            start = _date(rng, dt.date(2005, 1, 1), today)
            end = _date(rng, start, today) if rng.random() < 0.3 else None
            return {
                "record_no": f"JY{i:010d}",
                **base,
                "employer": rng.choice(EMPLOYERS),
                "employer_credit_code": f"91441800MA{rng.randrange(10**7, 10**8)}",
                "start_date": start.isoformat(),
                "end_date": end.isoformat() if end else "",
            }
        if kind == FactKind.SOCIAL_INSURANCE:
            return {
                "record_no": f"SB{i:010d}",
                **base,
                "insurance_type": rng.choice(INSURANCE),
                "months": str(rng.randint(1, 360)),
                "as_of": (today.replace(day=1) - dt.timedelta(days=1)).isoformat(),
                "region_code": p.region,
            }
        if kind == FactKind.ENROLMENT:
            start = _date(rng, dt.date(2015, 9, 1), today)
            return {
                "record_no": f"G{p.citizen_id[:6]}{i:09d}",
                **base,
                "school": rng.choice(SCHOOLS),
                "grade": rng.choice(("一年级", "三年级", "初二", "高一", "高三")),
                "start_date": start.isoformat(),
                "end_date": "",
            }
        if kind == FactKind.DEGREE:
            return {
                "record_no": f"XL{i:012d}",
                **base,
                "institution": rng.choice(INSTITUTIONS),
                "level": rng.choice(LEVELS),
                "awarded_on": _date(rng, dt.date(1990, 6, 1), today).isoformat(),
            }
        if kind == FactKind.PROPERTY:
            registered = _date(rng, dt.date(2000, 1, 1), today)
            return {
                "record_no": f"粤({registered.year})清远市不动产权第{i:07d}号",
                **base,
                "address": f"{rng.choice(STREETS)}{rng.randint(1, 300)}号{rng.randint(101, 2802)}",
                "region_code": p.region,
                "area_m2": f"{rng.uniform(35, 180):.2f}",
                "registered_on": registered.isoformat(),
                "cancelled_on": "",
            }
        if kind == FactKind.RENTAL:
            start = _date(rng, today - dt.timedelta(days=700), today)
            return {
                "record_no": f"ZL{i:010d}",
                **base,
                "address": f"{rng.choice(STREETS)}{rng.randint(1, 300)}号{rng.randint(101, 2802)}",
                "region_code": p.region,
                "start_date": start.isoformat(),
                "end_date": (start + dt.timedelta(days=365)).isoformat(),
            }
        if kind == FactKind.TAX_PAID:
            year = today.year - 1
            return {
                "record_no": f"SS{year}{i:09d}",
                **base,
                "tax_year": str(year),
                "amount": f"{rng.uniform(0, 50000):.2f}",
                "period_start": f"{year}-01-01",
                "period_end": f"{year}-12-31",
            }
        raise ValueError(f"no sample rows for {kind}")


def _age(p: SamplePerson, today: dt.date) -> int:
    return today.year - p.birth_date.year


def sample_feed(
    *,
    kind: str,
    persons: list[SamplePerson],
    rows: int,
    seed: int = 1,
    fmt: str = "csv",
    encoding: str = "utf-8",
    faults: dict[str, int] | None = None,
    today: dt.date | None = None,
    start: int = 1,
) -> SampleFeed:
    """A feed of ``rows`` data rows; ``faults`` says how many rows of each fault to inject."""
    if not persons:
        raise ValueError("no persons to write feeds about (seed the demo city first)")
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}")
    faults = {k: v for k, v in (faults or {}).items() if v}
    unknown = set(faults) - set(FAULTS)
    if unknown:
        raise ValueError(f"unknown faults {sorted(unknown)}; known: {FAULTS}")
    if sum(faults.values()) * 2 > rows:
        raise ValueError("at most half the rows may be faulty")
    rng = random.Random(seed)  # noqa: S311 - reproducible sample data
    today = today or dt.date.today()  # noqa: DTZ011 - a calendar date
    spec = feed_get(kind)
    columns = [c.name for c in spec.columns(spec.latest if fmt == "jsonl" else 1)]
    gen = _Rows(rng, persons, today)
    data = [gen.row(kind, start + i) for i in range(rows)]
    for row in data:
        for name in columns:
            row.setdefault(name, "")

    # Fault rows are picked among rows 2.. so a duplicate always has a good earlier original.
    positions = rng.sample(range(1, rows), sum(faults.values()))
    taken = set(positions)
    good = [i for i in range(rows) if i not in taken]
    first_line = 2 if fmt == "csv" else 1
    lines: dict[str, list[int]] = {}
    extra_columns: dict[int, int] = {}
    for fault, count in sorted(faults.items()):
        for _ in range(count):
            i = positions.pop()
            row = data[i]
            if fault == "bad_check_digit":
                right = row["citizen_id"][17]
                row["citizen_id"] = row["citizen_id"][:17] + ("0" if right != "0" else "1")
            elif fault == "unknown_id":
                born = dt.date(1980, 1, 1) + dt.timedelta(days=rng.randrange(9000))
                row["citizen_id"] = build_citizen_id("110101", born, rng.randrange(1, 999))
            elif fault == "duplicate":
                original = max(g for g in good if g < i)
                data[i] = dict(data[original])
            elif fault == "malformed_date":
                date_col = next(c.name for c in spec.columns(1) if c.type == "date" and c.required)
                value = row[date_col]
                row[date_col] = rng.choice((value.replace("-", "/"), value[:8] + "32"))
            elif fault == "wrong_columns":
                extra_columns[i] = rng.choice((-1, 1))
            lines.setdefault(fault, []).append(first_line + i)
    text = _render(data, columns, fmt, extra_columns)
    return SampleFeed(
        kind=kind,
        fmt=fmt,
        encoding=encoding,
        content=text.encode(encoding),
        rows=rows,
        faults={k: sorted(v) for k, v in lines.items()},
    )


def _render(data: list[dict], columns: list[str], fmt: str, extra: dict[int, int]) -> str:
    buf = io.StringIO()
    if fmt == "csv":
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for i, row in enumerate(data):
            values = [row[c] for c in columns]
            if extra.get(i) == -1:
                values = values[:-1]
            elif extra.get(i) == 1:
                values = [*values, "多余列"]
            writer.writerow(values)
        return buf.getvalue()
    for i, row in enumerate(data):
        obj = {c: (row[c] if row[c] != "" else None) for c in columns}
        if extra.get(i) == -1:
            obj.pop("record_no")
        elif extra.get(i) == 1:
            obj["unexpected"] = "多余字段"
        buf.write(json.dumps(obj, ensure_ascii=False) + "\n")
    return buf.getvalue()
