"""Region reference data: loading the shipped codes, NBS village files and demo villages."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from django.db import transaction

from population.models import (
    RURAL_CODES,
    URBAN_CODES,
    CountyCode,
    Region,
    RegionLevel,
    RegionUrbanRural,
)

PROVINCES = {"44": "广东省", "53": "云南省"}
DEMO_CITY = "4418"  # 清远市
DEMO_CLASSIFICATION_YEAR = 2024


def _data(name: str) -> str:
    return resources.files("population").joinpath("data", name).read_text(encoding="utf-8")


def pad(code: str) -> str:
    """A 2-, 4-, 6- or 9-digit division code as its 12-digit statistical form."""
    return code.ljust(12, "0")


def _upsert_regions(rows: Iterable[Region]) -> int:
    rows = list(rows)
    Region.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["code"],
        update_fields=["name", "level", "parent", "is_synthetic"],
        batch_size=2000,
    )
    return len(rows)


@transaction.atomic
def regions_load_reference() -> dict[str, int]:
    """Load the shipped provinces, cities, counties, townships and county-code history.

    Idempotent: running it again changes nothing.
    """
    counties = list(csv.DictReader(_data("county_codes_5cities.tsv").splitlines(), delimiter="\t"))
    townships = list(csv.reader(_data("townships_5cities_nbs2022.csv").splitlines()))

    provinces = [
        Region(code=pad(p), name=n, level=RegionLevel.PROVINCE) for p, n in PROVINCES.items()
    ]
    cities = [
        Region(
            code=pad(r["code"][:4]),
            name=r["name"],
            level=RegionLevel.CITY,
            parent_id=pad(r["code"][:2]),
        )
        for r in counties
        if r["code"].endswith("00") and r["current(2024)"] == "1"
    ]
    current_counties = [
        Region(
            code=pad(r["code"]),
            name=r["name"],
            level=RegionLevel.COUNTY,
            parent_id=pad(r["code"][:4]),
        )
        for r in counties
        # xx01 市辖区 is a statistical placeholder with no townships of its own.
        if r["current(2024)"] == "1" and not r["code"].endswith(("00", "01"))
    ]
    township_rows = [
        Region(code=pad(code), name=name, level=RegionLevel.TOWNSHIP, parent_id=pad(county))
        for code, name, county, _province, _city in townships
    ]
    counts = {
        "provinces": _upsert_regions(provinces),
        "cities": _upsert_regions(cities),
        "counties": _upsert_regions(current_counties),
        "townships": _upsert_regions(township_rows),
    }

    successors = {
        (r["old_code"], r["old_name"]): r["successor_code"]
        for r in csv.DictReader(_data("county_code_successors.tsv").splitlines(), delimiter="\t")
    }
    history = [
        CountyCode(
            code=r["code"],
            name=r["name"],
            from_year=int(r["from_year"]) if r["from_year"] else None,
            to_year=int(r["to_year"]) if r["to_year"] else None,
            successor_code=(
                r["code"]
                if r["current(2024)"] == "1"
                else successors.get((r["code"], r["name"]), "")
            ),
        )
        for r in counties
    ]
    CountyCode.objects.bulk_create(
        history,
        update_conflicts=True,
        unique_fields=["code", "name"],
        update_fields=["from_year", "to_year", "successor_code"],
    )
    counts["county_codes"] = len(history)
    return counts


def county_code_current(code: str) -> str | None:
    """The current county code for a current or historical one (临沧地区 533521 → 530902)."""
    return (
        CountyCode.objects.filter(code=code[:6])
        .exclude(successor_code="")
        .values_list("successor_code", flat=True)
        .first()
    )


@dataclass
class VillageLoadReport:
    loaded: int = 0
    errors: list[str] = field(default_factory=list)


def villages_load_nbs(path: Path, *, year: int) -> VillageLoadReport:
    """Load an NBS 统计用区划代码和城乡划分代码 village-level file.

    Rows are ``code,urban_rural_code,name`` (the order the NBS tables print; a header row and
    tab separators are accepted). Every row is checked first; any bad row loads nothing, and the
    report lists each with its line number.
    """
    report = VillageLoadReport()
    text = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            decoded = text.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise ValueError("unreadable file")
    lines = decoded.splitlines()
    if not any(line.strip() for line in lines):
        report.errors.append("文件为空 / the file is empty")
        return report
    dialect = "excel-tab" if "\t" in lines[0] else "excel"
    townships = set(
        Region.objects.filter(level=RegionLevel.TOWNSHIP).values_list("code", flat=True)
    )
    regions, classes, seen = [], [], set()
    for line_no, row in enumerate(csv.reader(lines, dialect=dialect), start=1):
        if not row or (line_no == 1 and not row[0].strip().isdigit()):
            continue
        if len(row) < 3:
            report.errors.append(
                f"第{line_no}行：应有3列，实际{len(row)}列 / line {line_no}: expected 3 columns"
            )
            continue
        code, urban_rural, name = (cell.strip() for cell in row[:3])
        if not (len(code) == 12 and code.isdigit()) or code.endswith("000"):
            # xxx000 is the township itself, not one of its village-level units.
            report.errors.append(
                f"第{line_no}行：村级代码应为12位数字且末3位非000 / "
                f"line {line_no}: a village code is 12 digits not ending in 000"
            )
        elif urban_rural not in URBAN_CODES | RURAL_CODES:
            report.errors.append(
                f"第{line_no}行：未知城乡分类代码{urban_rural} / "
                f"line {line_no}: unknown urban-rural code"
            )
        elif code[:9] + "000" not in townships:
            report.errors.append(
                f"第{line_no}行：上级乡级单位{code[:9]}不存在 / "
                f"line {line_no}: unknown township {code[:9]}"
            )
        elif code in seen:
            report.errors.append(f"第{line_no}行：代码{code}重复 / line {line_no}: duplicate code")
        elif not name:
            report.errors.append(f"第{line_no}行：名称为空 / line {line_no}: empty name")
        else:
            seen.add(code)
            regions.append(
                Region(code=code, name=name, level=RegionLevel.VILLAGE, parent_id=code[:9] + "000")
            )
            classes.append(RegionUrbanRural(region_id=code, year=year, code=urban_rural))
    if report.errors:
        return report
    with transaction.atomic():
        _upsert_regions(regions)
        RegionUrbanRural.objects.bulk_create(
            classes,
            update_conflicts=True,
            unique_fields=["region", "year"],
            update_fields=["code"],
            batch_size=2000,
        )
    report.loaded = len(regions)
    return report


# Demo village rule (documented in docs/demo-city.md): numbering follows the NBS convention
# (001-199 居委会, 200-399 村委会); urban-rural codes follow the township kind.
def _demo_units(township: Region) -> list[tuple[str, str, str]]:
    kind = int(township.code[6:9])
    base = township.name
    if kind < 100:  # 街道
        return [(f"{i:03d}", f"{base}第{i}社区居委会", "111") for i in range(1, 5)] + [
            ("005", f"{base}城郊社区居委会", "112")
        ]
    if kind < 200:  # 镇
        return [
            ("001", f"{base}圩镇社区居委会", "121"),
            ("002", f"{base}新区社区居委会", "122"),
        ] + [(f"{200 + i:03d}", f"{base}第{i + 1}村委会", "220") for i in range(6)]
    if kind < 400:  # 乡
        return [("001", f"{base}社区居委会", "210")] + [
            (f"{200 + i:03d}", f"{base}第{i + 1}村委会", "220") for i in range(4)
        ]
    return [("001", f"{base}生活区", "123")]  # 农场、林场等其他乡级单位


@transaction.atomic
def villages_generate_demo(*, city: str = DEMO_CITY, year: int = DEMO_CLASSIFICATION_YEAR) -> int:
    """Generate synthetic village-level units under the city's real townships (idempotent)."""
    townships = Region.objects.filter(level=RegionLevel.TOWNSHIP, code__startswith=city)
    regions, classes = [], []
    for township in townships:
        for suffix, name, urban_rural in _demo_units(township):
            code = township.code[:9] + suffix
            regions.append(
                Region(
                    code=code,
                    name=name,
                    level=RegionLevel.VILLAGE,
                    parent=township,
                    is_synthetic=True,
                )
            )
            classes.append(RegionUrbanRural(region_id=code, year=year, code=urban_rural))
    _upsert_regions(regions)
    RegionUrbanRural.objects.bulk_create(
        classes, update_conflicts=True, unique_fields=["region", "year"], update_fields=["code"]
    )
    return len(regions)


def code_prefix(code: str) -> str:
    """The significant prefix of a 12-digit division code: 省2 市2 县2 乡3 村3 with the all-zero
    lower levels dropped (441800000000 → 4418, 441802006000 → 441802006)."""
    if len(code) == 12:
        for cut in (2, 4, 6, 9):
            if code[cut:] == "0" * (12 - cut):
                return code[:cut]
    return code
