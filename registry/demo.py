"""The demo city's households and memberships (``population.demo.seed_demo_city`` generates the
city; this writes its households into the registry's tables).

Registered by ``RegistryConfig.ready`` on ``population.demo.demo_household_hook``, so the base
library holds no SQL on the registry's tables. Rows are streamed with COPY inside seed_demo's
transaction; household ids are reserved under a table lock, so the membership rows can name them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from population import demo
from population.demo import DemoHouseholds

HOUSEHOLD_COLUMNS = "id, number, kind, address, region_id, closed_on, created_at"
MEMBERSHIP_COLUMNS = "person_id, household_id, relation, start_date, end_date"


class HouseholdCopy:
    """One seed's households and memberships, buffered between COPYs."""

    def __init__(self, cursor: Any) -> None:
        # Ids above the current maximum are ours while the table is locked (to the transaction's
        # end); the number is the county code and the id.
        cursor.execute("LOCK TABLE registry_household IN SHARE ROW EXCLUSIVE MODE")
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM registry_household")
        self.next_id = cursor.fetchone()[0] + 1
        self.households: list[str] = []
        self.members: list[str] = []

    def household(self, *, kind: str, village: str, address: str, created_at: str) -> int:
        pk = self.next_id
        self.next_id += 1
        number = f"{village[:6]}{pk:09d}"
        row = (pk, number, kind, address, village, None, created_at)
        self.households.append(demo.copy_line(row))
        return pk

    def member(self, *, person_id: int, household_id: int, relation: str, since: dt.date) -> None:
        self.members.append(demo.copy_line((person_id, household_id, relation, since, None)))

    @staticmethod
    def _copy(copy_cursor: Any, table: str, columns: str, rows: list[str]) -> None:
        if rows:
            with copy_cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                copy.write("".join(rows))
            rows.clear()

    def households_write(self, copy_cursor: Any) -> None:
        self._copy(copy_cursor, "registry_household", HOUSEHOLD_COLUMNS, self.households)

    def members_write(self, copy_cursor: Any) -> None:
        self._copy(copy_cursor, "registry_membership", MEMBERSHIP_COLUMNS, self.members)

    def close(self, cursor: Any) -> None:
        if self.next_id > 1:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('registry_household', 'id'), %s)",
                [self.next_id - 1],
            )


demo_households = DemoHouseholds("registry.households", HouseholdCopy)
