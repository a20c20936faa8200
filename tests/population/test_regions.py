"""Region reference data: shipped codes, demo villages and NBS village files."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import DataError, IntegrityError, connection, transaction

from population.models import (
    CountyCode,
    Region,
    RegionLevel,
    RegionUrbanRural,
    UrbanRuralCode,
)
from population.regions import (
    DEMO_CLASSIFICATION_YEAR,
    county_code_current,
    regions_load_reference,
    villages_generate_demo,
)

pytestmark = pytest.mark.django_db


def level_counts() -> dict[int, int]:
    return {
        level: Region.objects.filter(level=level).count()
        for level in (RegionLevel.PROVINCE, RegionLevel.CITY, RegionLevel.COUNTY)
    } | {RegionLevel.TOWNSHIP: Region.objects.filter(level=RegionLevel.TOWNSHIP).count()}


EXPECTED_LEVELS = {
    RegionLevel.PROVINCE: 2,
    RegionLevel.CITY: 5,
    RegionLevel.COUNTY: 44,
    RegionLevel.TOWNSHIP: 548,
}


# -- shipped reference data --------------------------------------------------------------------


def test_reference_load_counts_and_is_idempotent():
    # when the reference data is loaded
    first = regions_load_reference()

    # then the return value and the database agree on the counts
    assert {k: first[k] for k in ("provinces", "cities", "counties", "townships")} == {
        "provinces": 2,
        "cities": 5,
        "counties": 44,
        "townships": 548,
    }
    assert level_counts() == EXPECTED_LEVELS
    county_codes = CountyCode.objects.count()
    assert county_codes == first["county_codes"]

    # and loading again changes nothing
    second = regions_load_reference()
    assert second == first
    assert level_counts() == EXPECTED_LEVELS
    assert Region.objects.count() == 2 + 5 + 44 + 548
    assert CountyCode.objects.count() == county_codes


def test_reference_regions_form_a_tree():
    regions_load_reference()
    regions = {r.code: r for r in Region.objects.all()}
    assert {r.code[:4] for r in regions.values() if r.level == RegionLevel.CITY} == {
        "4401",
        "4402",
        "4407",
        "4418",
        "5309",
    }
    for region in regions.values():
        assert len(region.code) == 12 and region.code.isdigit()
        assert not region.is_synthetic
        if region.level == RegionLevel.PROVINCE:
            assert region.parent_id is None
            continue
        # Foreign keys are checked only at commit, which a test never reaches: check by hand.
        parent = regions[region.parent_id]
        assert parent.level == region.level - 1
        if region.level == RegionLevel.TOWNSHIP:
            assert region.parent_id == region.code[:6] + "000000"
        if region.level == RegionLevel.COUNTY:
            assert region.parent_id == region.code[:4] + "00000000"
            assert not region.code[:6].endswith(("00", "01"))


def test_load_regions_command_reports_the_counts():
    out = io.StringIO()
    call_command("load_regions", stdout=out)
    assert "provinces 2, cities 5, counties 44, townships 548" in out.getvalue()
    assert level_counts() == EXPECTED_LEVELS


@pytest.mark.parametrize(
    ("code", "current"),
    [
        ("533521", "530902"),  # 临沧地区 临沧县 → 临翔区
        ("441827", "441803"),  # 清新县 → 清新区
        ("440102", "440104"),  # 东山区 → 越秀区
        ("441802", "441802"),  # current: itself
        ("530902", "530902"),
        ("441802006001", "441802"),  # a longer code is read by its county part
        ("441899", None),  # no such code
        ("110101", None),  # real, but not one of the shipped cities
    ],
)
def test_county_code_current(code, current):
    regions_load_reference()  # also resets the cached successor table
    assert county_code_current(code) == current


# -- demo villages -----------------------------------------------------------------------------


def test_demo_villages_follow_the_township_kind_and_are_idempotent():
    # given the reference data
    regions_load_reference()

    # when demo villages are generated twice
    created = villages_generate_demo()
    assert villages_generate_demo() == created

    # then every village is synthetic, classified for the year, under a 清远 township
    villages = list(Region.objects.filter(level=RegionLevel.VILLAGE).select_related("parent"))
    assert len(villages) == created > 0
    classes = dict(
        RegionUrbanRural.objects.filter(year=DEMO_CLASSIFICATION_YEAR).values_list(
            "region_id", "code"
        )
    )
    assert RegionUrbanRural.objects.count() == created
    for village in villages:
        assert village.is_synthetic
        assert village.code.startswith("4418")
        assert village.parent.level == RegionLevel.TOWNSHIP
        assert village.parent_id == village.code[:9] + "000"
        assert village.code in classes
    # 街道 (township kind 001-099): 居委会 in the main urban area or the urban fringe only
    street_codes = {c for v, c in classes.items() if int(v[6:9]) < 100}
    assert street_codes == {"111", "112"}
    # 镇 (100-199): the seat (001) is the town centre
    towns = Region.objects.filter(
        level=RegionLevel.TOWNSHIP, code__startswith="4418", code__regex=r"^[0-9]{6}1[0-9]{2}000$"
    )
    assert towns.exists()
    for town in towns:
        assert classes[town.code[:9] + "001"] == "121"
    # every 乡级 unit of the city got villages
    townships = Region.objects.filter(level=RegionLevel.TOWNSHIP, code__startswith="4418")
    assert {v.parent_id for v in villages} == set(townships.values_list("code", flat=True))


def test_demo_villages_for_a_city_without_townships_is_zero():
    regions_load_reference()
    assert villages_generate_demo(city="4499") == 0
    assert not Region.objects.filter(level=RegionLevel.VILLAGE).exists()


# -- NBS village files -------------------------------------------------------------------------

TOWNSHIP = "441802006000"  # 凤城街道, shipped
VALID_ROWS = [
    ("441802006001", "111", "凤城街道东城社区居委会"),
    ("441802006002", "112", "凤城街道城郊社区居委会"),
    ("441802006201", "220", "凤城街道某村委会"),
]


def write_file(
    tmp_path: Path, rows, *, name="villages.csv", sep=",", encoding="utf-8", header=True
):
    lines = [sep.join(("code", "urban_rural_code", "name"))] if header else []
    lines += [sep.join(row) for row in rows]
    path = tmp_path / name
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def load(path, year="2023"):
    out, err = io.StringIO(), io.StringIO()
    call_command("load_nbs_villages", str(path), "--year", year, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def reference(db):
    regions_load_reference()
    assert Region.objects.filter(code=TOWNSHIP, level=RegionLevel.TOWNSHIP).exists()


def loaded_villages() -> dict[str, tuple[str, str, int]]:
    return {
        ur.region_id: (ur.region.name, ur.code, ur.year)
        for ur in RegionUrbanRural.objects.select_related("region")
    }


def test_loads_a_utf8_csv_with_header(reference, tmp_path):
    out, err = load(write_file(tmp_path, VALID_ROWS, encoding="utf-8-sig"))

    assert "villages loaded: 3" in out
    assert err == ""
    assert loaded_villages() == {code: (name, ur, 2023) for code, ur, name in VALID_ROWS}
    for village in Region.objects.filter(level=RegionLevel.VILLAGE):
        assert (village.parent_id, village.is_synthetic) == (TOWNSHIP, False)


def test_loads_a_gb18030_tsv_without_header(reference, tmp_path):
    path = write_file(
        tmp_path, VALID_ROWS, name="villages.tsv", sep="\t", encoding="gb18030", header=False
    )
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")  # really not UTF-8

    out, _ = load(path)

    assert "villages loaded: 3" in out
    assert loaded_villages() == {code: (name, ur, 2023) for code, ur, name in VALID_ROWS}


def test_reloading_updates_the_classification_of_the_year(reference, tmp_path):
    load(write_file(tmp_path, VALID_ROWS))
    reclassified = [("441802006201", "210", "凤城街道某村委会")]
    load(write_file(tmp_path, reclassified, name="v2.csv"))
    load(write_file(tmp_path, reclassified, name="v3.csv"), year="2024")

    assert dict(
        RegionUrbanRural.objects.filter(region_id="441802006201").values_list("year", "code")
    ) == {2023: "210", 2024: "210"}
    assert Region.objects.filter(level=RegionLevel.VILLAGE).count() == 3


def test_any_bad_row_loads_nothing_and_every_bad_line_is_listed(reference, tmp_path):
    # given a file with good rows and one of each kind of bad row (line 1 is the header)
    rows = [
        VALID_ROWS[0],  # line 2
        ("44180200600", "111", "十一位代码"),  # line 3: wrong code length
        ("441802006003", "999", "未知城乡代码"),  # line 4: unknown urban-rural code
        ("441802999001", "111", "不存在的乡"),  # line 5: unknown township
        ("441802006001", "111", "重复"),  # line 6: duplicate of line 2
        ("441802006004", "111"),  # line 7: only two columns
        VALID_ROWS[1],  # line 8
    ]
    err = io.StringIO()

    # when it is loaded
    with pytest.raises(CommandError, match="5行有误") as excinfo:
        call_command(
            "load_nbs_villages",
            str(write_file(tmp_path, rows)),
            "--year",
            "2023",
            stdout=io.StringIO(),
            stderr=err,
        )

    # then nothing was loaded
    assert "5 bad rows, nothing loaded" in str(excinfo.value)
    assert not Region.objects.filter(level=RegionLevel.VILLAGE).exists()
    assert not RegionUrbanRural.objects.exists()
    # and each bad line is named on stderr, with its reason
    lines = err.getvalue().splitlines()
    assert [line.split("：")[0] for line in lines] == ["第3行", "第4行", "第5行", "第6行", "第7行"]
    assert "line 3: a village code is 12 digits not ending in 000" in lines[0]
    assert "line 4: unknown urban-rural code" in lines[1]
    assert "line 5: unknown township 441802999" in lines[2]
    assert "line 6: duplicate code" in lines[3]
    assert "line 7: expected 3 columns" in lines[4]


@pytest.mark.parametrize(
    "bad_row",
    [
        ("4418020060011", "111", "十三位"),
        ("44180200600A", "111", "含字母"),
        ("441802006005", "11", "两位城乡代码"),
        ("441802006006", "111", ""),
        ("441802006007", " ", "空白城乡代码"),
        ("441803999001", "220", "清新区不存在的乡"),
    ],
)
def test_a_single_bad_row_loads_nothing(reference, tmp_path, bad_row):
    with pytest.raises(CommandError, match="1行有误"):
        load(write_file(tmp_path, [*VALID_ROWS, bad_row]))
    assert not Region.objects.filter(level=RegionLevel.VILLAGE).exists()
    assert not RegionUrbanRural.objects.exists()


def test_a_missing_file_is_an_error(reference, tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        load(tmp_path / "nowhere.csv")


@pytest.mark.parametrize("year", ["1999", "2101"])
def test_an_implausible_year_is_an_error(reference, tmp_path, year):
    with pytest.raises(CommandError, match=r"year must be 2000\.\.2100"):
        load(write_file(tmp_path, VALID_ROWS), year=year)
    assert not RegionUrbanRural.objects.exists()


# -- model rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "urban"),
    [
        *[(code, True) for code in ("111", "112", "121", "122", "123")],
        *[(code, False) for code in ("210", "220")],
    ],
)
def test_is_urban(code, urban):
    assert RegionUrbanRural(code=code).is_urban is urban


def test_every_urban_rural_choice_is_classified():
    assert sorted(UrbanRuralCode.values) == ["111", "112", "121", "122", "123", "210", "220"]


def test_database_refuses_an_unknown_urban_rural_code(village):
    with pytest.raises(IntegrityError, match="urban_rural_code_known"):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "INSERT INTO population_regionurbanrural (region_id, year, code)"
                " VALUES (%s, 2024, '999')",
                [village.code],
            )
    assert not RegionUrbanRural.objects.exists()


def test_database_refuses_a_second_classification_in_one_year(village):
    RegionUrbanRural.objects.create(region=village, year=2024, code="111")
    with pytest.raises(IntegrityError, match="urban_rural_one_per_year"):
        with transaction.atomic():
            RegionUrbanRural.objects.create(region=village, year=2024, code="112")
    RegionUrbanRural.objects.create(region=village, year=2025, code="112")
    assert RegionUrbanRural.objects.count() == 2


@pytest.mark.parametrize(
    ("code", "error", "match"),
    [
        ("44180200600", IntegrityError, "region_code_12_digits"),
        ("44180200600A", IntegrityError, "region_code_12_digits"),
        ("４４１８０２００６００１", IntegrityError, "region_code_12_digits"),
        ("", IntegrityError, "region_code_12_digits"),
        ("4418020060011", DataError, "too long"),  # the column is varchar(12)
    ],
)
def test_database_refuses_a_region_code_that_is_not_12_digits(code, error, match):
    with pytest.raises(error, match=match):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "INSERT INTO population_region (code, name, level, is_synthetic)"
                " VALUES (%s, '坏代码', 5, false)",
                [code],
            )
    assert not Region.objects.exists()


# -- malformed files --------------------------------------------------------------------------


def test_an_empty_file_is_a_command_error(reference, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(CommandError):
        load(path)


def test_a_village_row_cannot_overwrite_its_township(reference, tmp_path):
    with pytest.raises(CommandError):
        load(write_file(tmp_path, [(TOWNSHIP, "111", "假村")]))
    township = Region.objects.get(code=TOWNSHIP)
    assert (township.level, township.parent_id) == (RegionLevel.TOWNSHIP, "441802000000")
