"""Deterministic synthetic demo city (清远市 by default) for the quickstart and benchmarks.

Everything is generated from one seed: households with a head, spouse, children and sometimes a
parent; collective households; non-registered residents from other provinces; citizen IDs with
the city's real county codes, birth-date-consistent sequences of the right parity, and check
digits. Rows are streamed into PostgreSQL with COPY inside one transaction, so a failure leaves
nothing behind. The rules are described in docs/demo-city.md.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pghistory
import pgtrigger
from django.db import connection, transaction
from django.utils import timezone

from population.codes import Relation
from population.hooks import Hook
from population.identity import check_digit, known_county_codes
from population.locks import advisory_xact_lock
from population.models import Person, RegionLevel, RegionUrbanRural
from population.regions import DEMO_CITY

# Chance of a person's unit, by urban-rural code: where people hold hukou, and where
# residents actually live (people move towards towns, so residence is more urban).
HUKOU_WEIGHTS = {"111": 6, "112": 4, "121": 1.4, "122": 0.8, "123": 1.5, "210": 2, "220": 1}
RESIDENCE_WEIGHTS = {"111": 16, "112": 8, "121": 2.6, "122": 1.2, "123": 1.5, "210": 2, "220": 0.55}

SHARE_NON_REGISTERED = 0.12  # residents whose hukou is elsewhere (流动人口)
SHARE_SEPARATED = 0.10  # registered persons living in another unit of the city (人户分离)
SHARE_AWAY = 0.06  # registered persons living outside the city (外出)
SHARE_COLLECTIVE = 0.03  # registered persons in collective households

SURNAMES = "陈李黄张梁刘林何罗吴郑谢朱邓冯曾徐周苏彭叶钟蔡邱潘杨赖余卢卓黎江廖莫温房邝谭欧胡杜范严"
# Rough frequencies in 粤北: the first names common, the tail rare.
SURNAME_WEIGHTS = [14, 10, 9, 7, 6, 6, 5] + [4] * 3 + [3] * 8 + [2] * 8 + [1] * (len(SURNAMES) - 26)
GIVEN_CHARS = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国志文斌辉晓红俊婷雪梅海燕"
    "鹏飞嘉欣子涵浩宇梓轩思颖佳怡锦荣家豪泳诗慧琳德兴卓然宏达振邦少芬美玲嘉怡"
)
# Origin provinces of migrants to 清远 (湖南、广西、江西、四川、贵州、湖北).
MIGRANT_PROVINCES = ("43", "45", "36", "51", "52", "42")


# Demonstration content of the higher apps (residence permits due for endorsement, settlement
# applications in each state, statistics snapshots, ...): each app registers a loader on
# ``demo_loader_hook`` in its AppConfig.ready, and seed_demo runs them in registration order after
# the city is loaded (``last`` loaders after all others), so population never names a higher app.
@dataclass(frozen=True)
class DemoLoader:
    """``load(today) -> summary``; ``last``: run after all others (the statistics snapshots,
    which count what the other loaders added)."""

    name: str
    load: Callable[[dt.date], str]
    last: bool = False


demo_loader_hook: Hook[DemoLoader] = Hook("population.demo_loaders")


def demo_loaders_run(*, today: dt.date | None = None) -> list[tuple[str, str]]:
    """Run every registered loader, each in its own transaction; returns (name, summary)."""
    today = today or timezone.localdate()
    loaders = [x for x in demo_loader_hook if not x.last] + [x for x in demo_loader_hook if x.last]
    done = []
    for loader in loaders:
        with transaction.atomic():
            done.append((loader.name, loader.load(today)))
    return done


class DemoHouseholdWriter(Protocol):
    """Writes the demo city's households and memberships, inside seed_demo's transaction.

    Opened with seed_demo's cursor (it locks and reserves what it needs); ``household`` returns
    the new household's id; ``households_write`` and ``members_write`` COPY what was added
    since the last call (households before the persons, memberships after them); ``close``
    moves the id sequence on."""

    def household(self, *, kind: str, village: str, address: str, created_at: str) -> int: ...

    def member(
        self, *, person_id: int, household_id: int, relation: str, since: dt.date
    ) -> None: ...

    def households_write(self, copy_cursor: Any) -> None: ...

    def members_write(self, copy_cursor: Any) -> None: ...

    def close(self, cursor: Any) -> None: ...


@dataclass(frozen=True)
class DemoHouseholds:
    """The app that owns households (the registry) registers where the demo city's households
    go: ``open(cursor) -> DemoHouseholdWriter``. Without one the persons are loaded alone (the
    same persons: the households are generated all the same)."""

    name: str
    open: Callable[[Any], DemoHouseholdWriter]


demo_household_hook: Hook[DemoHouseholds] = Hook("population.demo_households")


@dataclass
class DemoResult:
    persons: int
    households: int
    memberships: int


def _weighted_picker(rng: random.Random, items: list, weights: list[float]) -> Callable[[], object]:
    cumulative = list(itertools.accumulate(weights))
    total = cumulative[-1]

    def pick():
        return items[bisect.bisect(cumulative, rng.random() * total)]

    return pick


class _Generator:
    def __init__(self, *, seed: int, city: str, today: dt.date, classification_year: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
        self.today = today
        villages = list(
            RegionUrbanRural.objects.filter(
                region__code__startswith=city,
                region__level=RegionLevel.VILLAGE,
                year=classification_year,
            )
            .order_by("region_id")
            .values_list("region_id", "code")
        )
        if not villages:
            raise ValueError("no village-level units with urban-rural codes for the demo city")
        codes = [v for v, _ in villages]
        self.pick_hukou = _weighted_picker(self.rng, codes, [HUKOU_WEIGHTS[c] for _, c in villages])
        self.pick_residence = _weighted_picker(
            self.rng, codes, [RESIDENCE_WEIGHTS[c] for _, c in villages]
        )
        self.city_counties = sorted({v[:6] for v in codes})
        self.migrant_counties = sorted(
            c for c in known_county_codes()
            if c[:2] in MIGRANT_PROVINCES and not c.endswith("00") and not c.endswith("01")
        )  # fmt: skip
        self.pick_surname = _weighted_picker(self.rng, list(SURNAMES), SURNAME_WEIGHTS)
        self.sequences: dict[tuple[str, dt.date, int], int] = {}
        self.collective_by_county: dict[str, list] = {}

    # -- persons ---------------------------------------------------------------------------
    def name(self) -> str:
        chars = GIVEN_CHARS
        given = self.rng.choice(chars)
        if self.rng.random() < 0.8:
            given += self.rng.choice(chars)
        return self.pick_surname() + given

    def birth_date(self, age: int) -> dt.date:
        born = self.today.replace(month=1, day=1) - dt.timedelta(days=365 * age)
        born = dt.date(born.year, 1, 1) + dt.timedelta(days=self.rng.randrange(365))
        return min(born, self.today)

    def citizen_id(self, address: str, born: dt.date, male: bool) -> str | None:
        key = (address, born, male)
        k = self.sequences.get(key, 0)
        if k >= 500:  # every sequence of this place, date and sex is taken
            return None
        self.sequences[key] = k + 1
        first17 = f"{address}{born:%Y%m%d}{2 * k + (1 if male else 0):03d}"
        return first17 + check_digit(first17)

    def ethnicity(self, county: str) -> str:
        r = self.rng.random()
        if county == "441826":  # 连南瑶族自治县
            return "13" if r < 0.55 else "01"
        if county == "441825":  # 连山壮族瑶族自治县
            return "08" if r < 0.35 else "13" if r < 0.45 else "01"
        return "01" if r < 0.995 else "08"

    def person(self, *, age: int, male: bool, address: str, county: str) -> dict | None:
        age = max(0, min(age, 104))
        born = self.birth_date(age)
        number = self.citizen_id(address, born, male)
        if number is None:
            return None
        return {
            "citizen_id": number,
            "name": self.name(),
            "sex": 1 if male else 2,
            "birth_date": born,
            "ethnicity": self.ethnicity(county),
        }

    def origin(self, village: str) -> str:
        """Address code in the ID: usually the home county, sometimes another of the city."""
        if self.rng.random() < 0.9:
            return village[:6]
        return self.rng.choice(self.city_counties)

    def head_age(self) -> int:
        # Household heads: young families to the very old, a peak around 40-55.
        return int(min(95, max(20, self.rng.gauss(48, 14))))

    # -- households ------------------------------------------------------------------------
    def family(self) -> tuple[str, list[tuple[dict, str]]]:
        rng = self.rng
        village = self.pick_hukou()
        county = village[:6]
        head_male = rng.random() < 0.7
        head_age = self.head_age()
        members: list[tuple[dict | None, str]] = [
            (
                self.person(
                    age=head_age, male=head_male, address=self.origin(village), county=county
                ),
                Relation.HEAD,
            )
        ]
        mother_age = None
        if head_age >= 22 and rng.random() < 0.82:
            spouse_age = head_age + (rng.randint(-5, 1) if head_male else rng.randint(-1, 5))
            members.append(
                (
                    self.person(
                        age=spouse_age,
                        male=not head_male,
                        address=self.origin(village),
                        county=county,
                    ),
                    Relation.WIFE if head_male else Relation.HUSBAND,
                )
            )
            mother_age = spouse_age if head_male else head_age
        elif not head_male:
            mother_age = head_age
        if mother_age is not None:
            n_children = rng.choices((0, 1, 2, 3, 4), weights=(12, 35, 38, 12, 3))[0]
            for _ in range(n_children):
                child_age = mother_age - rng.randint(21, 38)
                if child_age < 0 or (child_age > 30 and rng.random() < 0.7):
                    continue  # not born yet, or grown up with a household of their own
                male = rng.random() < 0.515  # sex ratio at birth near 106
                members.append(
                    (
                        self.person(
                            age=child_age, male=male, address=self.origin(village), county=county
                        ),
                        Relation.SON if male else Relation.DAUGHTER,
                    )
                )
        if head_age < 60 and rng.random() < 0.14:
            male = rng.random() < 0.4
            members.append(
                (
                    self.person(
                        age=head_age + rng.randint(24, 34),
                        male=male,
                        address=self.origin(village),
                        county=county,
                    ),
                    Relation.FATHER if male else Relation.MOTHER,
                )
            )
        return village, [(p, r) for p, r in members if p is not None]

    def collective_members(self, village: str, n: int) -> list[tuple[dict, str]]:
        county = village[:6]
        members = []
        for _ in range(n):
            p = self.person(
                age=self.rng.randint(18, 58),
                male=self.rng.random() < 0.55,
                address=self.origin(village),
                county=county,
            )
            if p is not None:
                members.append((p, Relation.NON_RELATIVE))
        return members

    def migrant(self) -> dict | None:
        age = int(min(80, max(0, self.rng.gauss(32, 12))))
        address = self.rng.choice(self.migrant_counties)
        p = self.person(age=age, male=self.rng.random() < 0.54, address=address, county=address)
        return p


def copy_line(values: tuple) -> str:
    """One row of COPY text format (NULL as \\N)."""
    out = []
    for v in values:
        if v is None:
            out.append("\\N")
        else:
            out.append(str(v))
    return "\t".join(out) + "\n"


def seed_demo_city(
    *,
    persons: int,
    seed: int,
    city: str = DEMO_CITY,
    classification_year: int = 2024,
    progress: Callable[[int], None] | None = None,
    today: dt.date | None = None,
) -> DemoResult:
    """Generate and load ``persons`` people; one transaction, COPY in chunks."""
    if persons < 1:
        raise ValueError("persons must be at least 1")
    today = today or timezone.localdate()
    gen = _Generator(seed=seed, city=city, today=today, classification_year=classification_year)
    # The demo city is recorded as it stood since the start of the month 13 months ago, in its
    # rows and in their history, so the last 12 month ends can be snapshot from the history
    # (stats_snapshot of a past month reads the history as of that month end).
    recorded_at = demo_recorded_at(today)
    now = recorded_at.isoformat()
    n_migrants = round(persons * SHARE_NON_REGISTERED)
    n_registered = persons - n_migrants
    public_units = _public_collective_units(city, classification_year)

    with (
        transaction.atomic(),
        pghistory.context(reason="生成演示城市", seed=seed),
    ):
        with connection.cursor() as cursor:
            # Reserve id ranges: one writer at a time, ids assigned here for the membership rows.
            advisory_xact_lock("popbase.seed_demo", cursor=cursor)
            cursor.execute("LOCK TABLE population_person IN SHARE ROW EXCLUSIVE MODE")
            households = next(iter(demo_household_hook), None)
            writer = households.open(cursor) if households is not None else None
            cursor.execute("SELECT COALESCE(MAX(id), 0) FROM population_person")
            next_person = cursor.fetchone()[0] + 1
            cursor.execute("SELECT citizen_id FROM population_person")
            taken = {row[0] for row in cursor.fetchall()}
            first_person = next_person
            # The person rows' history is written below with the recorded date instead of
            # the insert trigger's NOW(); appending it ourselves keeps the history append-only.
            cursor.execute(
                "SELECT set_config('pgtrigger.ignore', %s, true)", [_person_insert_trigger()]
            )

            person_cols = (
                "id, citizen_id, name, sex, birth_date, ethnicity, status, hukou_region_id,"
                " residence_region_id, created_at, updated_at"
            )
            person_buf: list[str] = []
            counts = DemoResult(0, 0, 0)
            raw = cursor.cursor  # the psycopg cursor, for COPY

            def flush(final: bool = False) -> None:
                if len(person_buf) < 20_000 and not final:
                    return
                if writer is not None:
                    writer.households_write(raw)
                if person_buf:
                    with raw.copy(f"COPY population_person ({person_cols}) FROM STDIN") as copy:
                        copy.write("".join(person_buf))
                    person_buf.clear()
                if writer is not None:
                    writer.members_write(raw)
                if progress:
                    progress(counts.persons)

            def add_person(p: dict, hukou: str | None, residence: str | None) -> int | None:
                nonlocal next_person
                if p["citizen_id"] in taken:
                    return None
                taken.add(p["citizen_id"])
                pid = next_person
                next_person += 1
                row = (p["citizen_id"], p["name"], p["sex"], p["birth_date"], p["ethnicity"])
                person_buf.append(copy_line((pid, *row, "active", hukou, residence, now, now)))
                counts.persons += 1
                return pid

            def add_household(kind: str, village: str, members: list[tuple[dict, str]]) -> None:
                # Numbers already in the database (a second seed) are skipped; a family whose
                # head is among them is skipped whole, so no household is left without a head.
                members = [(p, r) for p, r in members if p["citizen_id"] not in taken]
                if not members or (kind == "family" and members[0][1] != Relation.HEAD):
                    return
                address = f"{village[6:9]}街区{gen.rng.randint(1, 300)}号"
                hid = None
                if writer is not None:
                    hid = writer.household(
                        kind=kind, village=village, address=address, created_at=now
                    )
                    counts.households += 1
                for p, relation in members:
                    r = gen.rng.random()
                    residence = village
                    if r < SHARE_AWAY:
                        residence = None
                    elif r < SHARE_AWAY + SHARE_SEPARATED:
                        residence = gen.pick_residence()
                    pid = add_person(p, village, residence)
                    if pid is None:
                        continue
                    since = max(
                        p["birth_date"], today - dt.timedelta(days=gen.rng.randrange(1, 365 * 30))
                    )
                    if writer is not None:
                        writer.member(
                            person_id=pid, household_id=hid, relation=relation, since=since
                        )
                        counts.memberships += 1

            # Each county's public collective household (公共集体户), then families and units.
            n_collective = round(n_registered * SHARE_COLLECTIVE)
            for village in public_units:
                size = min(12, n_registered - n_collective - counts.persons)
                if size > 0:
                    add_household(
                        "public_collective", village, gen.collective_members(village, size)
                    )
            while counts.persons < n_registered - n_collective:
                village, members = gen.family()
                room = n_registered - n_collective - counts.persons
                add_household("family", village, members[:room])
                flush()
            while counts.persons < n_registered:
                village = gen.pick_residence()
                size = min(n_registered - counts.persons, gen.rng.randint(10, 60))
                kind = "talent_collective" if gen.rng.random() < 0.2 else "unit_collective"
                add_household(kind, village, gen.collective_members(village, size))
                flush()
            while counts.persons < persons:
                p = gen.migrant()
                if p is not None:
                    add_person(p, None, gen.pick_residence())
                flush()
            flush(final=True)

            cursor.execute("SELECT set_config('pgtrigger.ignore', '{}', true)")
            cursor.execute(
                PERSON_HISTORY_SQL,
                [recorded_at, first_person],
            )

            # Ids above the old maximum were free (the tables are locked); move the sequences on.
            if next_person > 1:
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence('population_person', 'id'), %s)",
                    [next_person - 1],
                )
            if writer is not None:
                writer.close(cursor)
    return counts


PERSON_HISTORY_SQL = """
WITH ctx AS (SELECT _pgh_attach_context() AS value)
INSERT INTO population_personevent (id, citizen_id, name, sex, birth_date, ethnicity, status,
    hukou_region_id, residence_region_id, created_at, updated_at,
    pgh_context_id, pgh_created_at, pgh_label, pgh_obj_id)
SELECT id, citizen_id, name, sex, birth_date, ethnicity, status,
       hukou_region_id, residence_region_id, created_at, updated_at,
       ctx.value, %s, 'insert', id
  FROM population_person, ctx WHERE id >= %s
"""


def demo_recorded_at(today: dt.date) -> dt.datetime:
    """When the demo city counts as recorded: the first day of the month 13 months back."""
    year, month = (today.year - 1, today.month - 1) if today.month > 1 else (today.year - 2, 12)
    return dt.datetime(year, month, 1, tzinfo=timezone.get_current_timezone())


def _person_insert_trigger() -> str:
    """The Postgres name of Person's history insert trigger, as pgtrigger.ignore wants it."""
    names = [
        trigger.get_pgid(model)
        for model, trigger in pgtrigger.registered("population.Person:insert_insert")
    ]
    return "{" + ",".join(names) + "}"


def _public_collective_units(city: str, year: int) -> list[str]:
    """One unit per county for its public collective household: the first urban 居委会."""
    units = {}
    for region_id in (
        RegionUrbanRural.objects.filter(
            region__code__startswith=city, year=year, code__in=["111", "121"]
        )
        .order_by("region_id")
        .values_list("region_id", flat=True)
    ):
        units.setdefault(region_id[:6], region_id)
    return list(units.values())


def demo_city_exists() -> bool:
    return Person.objects.exists()
