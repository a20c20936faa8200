"""Detectors of suspected data problems, each one set-based SQL statement over everyone.

A detector is a class with a ``kinds`` tuple (the issue kinds it owns) and a ``sql(context)``
method returning one SELECT (and its parameters) whose rows are findings with the columns
``kind, fingerprint, person_ids bigint[], household_id, evidence jsonb``. The queue service runs
the SELECT into a temporary table and merges it into ``QualityIssue`` in SQL: no person row
travels to Python. A finding the detector no longer returns is resolved, within its kinds only.

Adding a detector is one class, registered with ``detector_hook.register(TheDetector())``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from population.codes import ETHNICITIES
from population.hooks import Hook
from population.identity import known_county_codes
from registry.quality.models import IssueKind
from registry.quality.names import NameMaps, build_name_maps

if TYPE_CHECKING:
    from django.db.backends.utils import CursorWrapper

_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))

ETHNICITY_CODES = [code for code, _ in ETHNICITIES]


def check_digit_ok_sql(column: str = "p.citizen_id") -> str:
    """SQL: the 18th character is the ISO 7064 MOD 11-2 check of the first 17."""
    total = " + ".join(f"substr({column}, {i + 1}, 1)::int * {w}" for i, w in enumerate(_WEIGHTS))
    return f"(substr({column}, 18, 1) = substr('10X98765432', mod({total}, 11) + 1, 1))"


def masked_sql(column: str = "p.citizen_id") -> str:
    return f"(left({column}, 6) || '********' || right({column}, 4))"


# One person's checks, shared by the detectors and the figures (selectors). Each needs ``p``
# (population_person), ``m`` (its open membership, left-joined) and ``h`` (m's household).
COMPLETENESS_CHECKS: dict[str, str] = {
    "name_blank": "btrim(p.name) = ''",
    "ethnicity_missing": "NOT (p.ethnicity = ANY(%(ethnicities)s))",
    "registered_without_household": (
        "p.hukou_region_id IS NOT NULL AND p.status = 'active' AND m.id IS NULL"
    ),
}
VALIDATION_CHECKS: dict[str, str] = {
    "check_digit_wrong": f"NOT {check_digit_ok_sql()}",
    "address_code_unknown": "NOT (left(p.citizen_id, 6) = ANY(%(county_codes)s))",
}
CROSS_CHECKS: dict[str, str] = {
    "inactive_with_open_membership": "p.status <> 'active' AND m.id IS NOT NULL",
    "hukou_region_differs_from_household": (
        "m.id IS NOT NULL AND p.hukou_region_id IS DISTINCT FROM h.region_id"
    ),
}

PERSON_JOINS = """
    population_person p
    LEFT JOIN registry_membership m ON m.person_id = p.id AND m.end_date IS NULL
    LEFT JOIN registry_household h ON h.id = m.household_id
"""


def check_params() -> dict[str, list[str]]:
    return {"ethnicities": ETHNICITY_CODES, "county_codes": sorted(known_county_codes())}


@dataclass
class DetectorContext:
    """What a run shares between detectors: the cursor and lazily built name maps."""

    cursor: CursorWrapper
    extra: dict = field(default_factory=dict)

    @cached_property
    def name_maps(self) -> NameMaps:
        self.cursor.execute(
            "SELECT DISTINCT c FROM (SELECT DISTINCT name FROM population_person) n,"
            " string_to_table(n.name, NULL) AS c"
        )
        return build_name_maps(row[0] for row in self.cursor.fetchall())


class Detector:
    name: str = ""
    label: str = ""
    kinds: tuple[str, ...] = ()

    def sql(self, context: DetectorContext) -> tuple[str, dict]:
        raise NotImplementedError


# Every detector, by name, in registration order (population.hooks: one pattern for all).
detector_hook: Hook[Detector] = Hook("registry.quality.detectors")


def _person_json(alias: str = "p") -> str:
    return (
        f"jsonb_build_object('id', {alias}.id, 'name', {alias}.name, "
        f"'citizen_id', {masked_sql(alias + '.citizen_id')}, 'status', {alias}.status, "
        f"'hukou_region', {alias}.hukou_region_id)"
    )


def _duplicate_sql(kind: str, key: str, distinct_within: str | None) -> str:
    """Groups of two or more uncancelled persons sharing (key, sex, birth date).

    Two steps, so the evidence is built for the few persons in a group only: a hash
    aggregation over everyone finds the duplicated keys (``COLLATE "C"``: byte order, no
    locale work), then those persons are joined back and aggregated.
    """
    having = "count(*) > 1"
    if distinct_within:
        # Only groups the stricter key does not already explain on its own (two or more
        # distinct values, said with min/max so the aggregation can hash).
        having += f' AND min({distinct_within} COLLATE "C") <> max({distinct_within} COLLATE "C")'
    # Carry only the column the distinctness test needs.
    extra = (
        "translate(p.name, %(norm_from)s, %(norm_to)s) AS norm_name"
        if distinct_within == "k.norm_name"
        else "p.name"
    )
    return f"""
        WITH k AS MATERIALIZED (
            SELECT p.id, p.sex, p.birth_date, ({key}) COLLATE "C" AS key, {extra}
            FROM population_person p
            WHERE p.status <> 'cancelled'
        ),
        dup AS (
            SELECT key, sex, birth_date FROM k
            GROUP BY key, sex, birth_date
            HAVING {having}
        )
        SELECT '{kind}'::text AS kind,
               '{kind}:' || md5(g.key || '|' || g.sex || '|' || g.birth_date) AS fingerprint,
               g.person_ids, NULL::bigint AS household_id,
               jsonb_build_object('key', g.key, 'sex', g.sex, 'birth_date', g.birth_date,
                                  'persons', g.persons) AS evidence
        FROM (
            SELECT k.key, k.sex, k.birth_date,
                   array_agg(p.id ORDER BY p.id) AS person_ids,
                   jsonb_agg({_person_json()} ORDER BY p.id) AS persons
            FROM k
            JOIN dup USING (key, sex, birth_date)
            JOIN population_person p ON p.id = k.id
            GROUP BY k.key, k.sex, k.birth_date
        ) g
    """  # noqa: S608 (fixed fragments; values are parameters)


class SameNameDuplicates(Detector):
    name = "dup_same_name"
    label = "同名同性别同出生日期"
    kinds = (IssueKind.DUPLICATE_SAME_NAME,)

    def sql(self, context):
        maps = context.name_maps
        return _duplicate_sql(self.kinds[0], "p.name", None), {
            "norm_from": maps.norm_from,
            "norm_to": maps.norm_to,
        }


detector_hook.register(SameNameDuplicates())


class NormalisedNameDuplicates(Detector):
    name = "dup_normalised"
    label = "繁简、全角归一后同名"
    kinds = (IssueKind.DUPLICATE_NORMALISED,)

    def sql(self, context):
        maps = context.name_maps
        key = "translate(p.name, %(norm_from)s, %(norm_to)s)"
        return _duplicate_sql(self.kinds[0], key, "k.name"), {
            "norm_from": maps.norm_from,
            "norm_to": maps.norm_to,
        }


detector_hook.register(NormalisedNameDuplicates())


class HomophoneDuplicates(Detector):
    name = "dup_homophone"
    label = "同音姓名"
    kinds = (IssueKind.DUPLICATE_HOMOPHONE,)

    def sql(self, context):
        maps = context.name_maps
        key = (
            "translate(translate(p.name, %(norm_from)s, %(norm_to)s), %(sound_from)s, %(sound_to)s)"
        )
        return _duplicate_sql(self.kinds[0], key, "k.norm_name"), {
            "norm_from": maps.norm_from,
            "norm_to": maps.norm_to,
            "sound_from": maps.sound_from,
            "sound_to": maps.sound_to,
        }


detector_hook.register(HomophoneDuplicates())


class RegisteredTwice(Detector):
    """多重户口: one human behind two records that both count.

    The database allows one open membership per person row, so "registered twice" is two rows:
    (a) persons with the same normalised name, sex and birth date who each hold an open
    membership (a re-issued number, say an old county code and the new one, registered again);
    (b) a person whose number was corrected away while another row still holds the old number.
    A legacy 15-digit number is converted to 18 digits on entry, so both forms cannot coexist.
    """

    name = "registered_twice"
    label = "多重户口"
    kinds = (IssueKind.REGISTERED_TWICE,)

    def sql(self, context):
        maps = context.name_maps
        kind = self.kinds[0]
        sql = f"""
            WITH registered AS MATERIALIZED (
                SELECT p.id, p.sex, p.birth_date, h.number AS household,
                       translate(p.name, %(norm_from)s, %(norm_to)s) COLLATE "C" AS key
                FROM population_person p
                JOIN registry_membership m ON m.person_id = p.id AND m.end_date IS NULL
                JOIN registry_household h ON h.id = m.household_id
            )
            SELECT '{kind}'::text AS kind,
                   '{kind}:open:' || md5(g.key || '|' || g.sex || '|' || g.birth_date)
                       AS fingerprint,
                   g.person_ids, NULL::bigint AS household_id,
                   jsonb_build_object('rule', 'two_open_registrations', 'key', g.key,
                                      'households', g.households, 'persons', g.persons)
                       AS evidence
            FROM (
                SELECT r.key, r.sex, r.birth_date,
                       array_agg(p.id ORDER BY p.id) AS person_ids,
                       array_agg(r.household ORDER BY p.id) AS households,
                       jsonb_agg({_person_json()} ORDER BY p.id) AS persons
                FROM registered r
                JOIN (SELECT key, sex, birth_date FROM registered
                      GROUP BY key, sex, birth_date HAVING count(*) > 1) d
                    USING (key, sex, birth_date)
                JOIN population_person p ON p.id = r.id
                GROUP BY r.key, r.sex, r.birth_date
            ) g
            UNION ALL
            SELECT '{kind}'::text,
                   '{kind}:corrected:' || c.person_id || ':' || p.id,
                   ARRAY[c.person_id, p.id]::bigint[], NULL::bigint,
                   jsonb_build_object('rule', 'corrected_number_still_recorded',
                                      'former_number', {masked_sql("c.old_citizen_id")},
                                      'persons', jsonb_build_array({_person_json("q")},
                                                                   {_person_json()}))
            FROM population_citizenidcorrection c
            JOIN population_person p ON p.citizen_id = c.old_citizen_id AND p.id <> c.person_id
            JOIN population_person q ON q.id = c.person_id
            WHERE p.status <> 'cancelled' AND q.status <> 'cancelled'
        """  # noqa: S608 (fixed fragments; values are parameters)
        return sql, {"norm_from": maps.norm_from, "norm_to": maps.norm_to}


detector_hook.register(RegisteredTwice())


class RecordChecks(Detector):
    """Per-record checks in one scan: 应销未销, fields against the ID, gaps, region mismatch."""

    name = "record_checks"
    label = "逐条记录校验"
    kinds = (
        IssueKind.INACTIVE_REGISTERED,
        IssueKind.ID_MISMATCH,
        IssueKind.MISSING_FIELDS,
        IssueKind.REGION_MISMATCH,
    )
    # kind -> the checks that raise it
    GROUPS = {
        IssueKind.INACTIVE_REGISTERED: ["inactive_with_open_membership"],
        IssueKind.ID_MISMATCH: ["check_digit_wrong", "address_code_unknown"],
        IssueKind.MISSING_FIELDS: [
            "name_blank",
            "ethnicity_missing",
            "registered_without_household",
        ],
        IssueKind.REGION_MISMATCH: ["hukou_region_differs_from_household"],
    }

    def sql(self, context):
        checks = {**COMPLETENESS_CHECKS, **VALIDATION_CHECKS, **CROSS_CHECKS}
        flags = ",\n".join(f"({expr}) AS {name}" for name, expr in checks.items())
        any_flag = " OR ".join(f"({expr})" for expr in checks.values())
        parts = []
        for kind, names in self.GROUPS.items():
            failed = ", ".join(f"CASE WHEN f.{n} THEN '{n}' END" for n in names)
            parts.append(
                f"""
                SELECT '{kind}'::text AS kind, '{kind}:' || f.id AS fingerprint,
                       ARRAY[f.id]::bigint[] AS person_ids, f.household_id,
                       jsonb_build_object('failed', array_remove(ARRAY[{failed}], NULL),
                                          'person', f.person, 'household', f.household_number,
                                          'household_region', f.household_region)
                           AS evidence
                FROM flagged f WHERE {" OR ".join(f"f.{n}" for n in names)}"""  # noqa: S608
            )
        sql = f"""
            WITH flagged AS MATERIALIZED (
                SELECT p.id, h.id AS household_id, h.number AS household_number,
                       h.region_id AS household_region, {_person_json()} AS person,
                       {flags}
                FROM {PERSON_JOINS}
                WHERE {any_flag}
            )
            {" UNION ALL ".join(parts)}
        """  # noqa: S608 (fixed fragments; values are parameters)
        return sql, check_params()


detector_hook.register(RecordChecks())


class HouseholdWithoutHead(Detector):
    name = "household_no_head"
    label = "家庭户无户主"
    kinds = (IssueKind.HOUSEHOLD_NO_HEAD,)

    def sql(self, context):
        kind = self.kinds[0]
        sql = f"""
            SELECT '{kind}'::text AS kind, '{kind}:' || h.id AS fingerprint,
                   array_agg(m.person_id ORDER BY m.person_id) AS person_ids,
                   h.id AS household_id,
                   jsonb_build_object('household', h.number, 'members', count(*),
                                      'relations', array_agg(m.relation ORDER BY m.person_id))
                       AS evidence
            FROM registry_household h
            JOIN registry_membership m ON m.household_id = h.id AND m.end_date IS NULL
            WHERE h.kind = 'family' AND h.closed_on IS NULL
            GROUP BY h.id
            HAVING NOT bool_or(m.relation = '02')
        """  # noqa: S608 (fixed fragments; values are parameters)
        return sql, {}


detector_hook.register(HouseholdWithoutHead())


class DeceasedPerNotice(Detector):
    """应销未销 per the 卫健 death notices: a death reported by the department (a ``death`` fact
    from the department sync) for a person still active here. The officer checks and registers
    the death (死亡注销); the finding resolves itself once the record says deceased."""

    name = "deceased_per_notice"
    label = "卫健死亡信息未注销"
    kinds = (IssueKind.DECEASED_PER_NOTICE,)

    def sql(self, context):
        kind = self.kinds[0]
        sql = f"""
            SELECT '{kind}'::text AS kind, '{kind}:' || p.id AS fingerprint,
                   ARRAY[p.id]::bigint[] AS person_ids, m.household_id,
                   jsonb_build_object('death_date', max(f.event_date),
                                      'notices', array_agg(f.record_no ORDER BY f.record_no),
                                      'person', {_person_json()}) AS evidence
            FROM population_fact f
            JOIN population_person p ON p.id = f.person_id
            LEFT JOIN registry_membership m ON m.person_id = p.id AND m.end_date IS NULL
            WHERE f.kind = 'death' AND p.status = 'active'
            GROUP BY p.id, m.household_id
        """  # noqa: S608 (fixed fragments)
        return sql, {}


detector_hook.register(DeceasedPerNotice())
