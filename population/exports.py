"""One rule for every CSV and XLSX cell popbase writes: text a spreadsheet would run as a
formula (starting with =, +, -, @, tab or CR) gets a leading apostrophe, so it shows as text.

The one formula a CSV may hold is popbase's own ``="441800000000"`` for a digits-only code
(``CsvDigitCode``), so Excel keeps it as text instead of 4.418E+11; it is built here from
digits alone, never from a cell's text.
"""

from __future__ import annotations

import csv
import re
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_DIGITS = re.compile(r"[0-9]{1,32}")


class CsvDigitCode(str):
    """A code of digits only (region code), written to CSV as ``="…"`` to stay text in Excel."""

    def __new__(cls, code: str) -> CsvDigitCode:
        if not isinstance(code, str) or not _DIGITS.fullmatch(code):
            raise ValueError(f"not a digits-only code: {code!r}")
        return super().__new__(cls, code)


def cell_safe(value: Any) -> Any:
    """The value as a spreadsheet should show it: formula-like text neutralised, rest as is."""
    if isinstance(value, CsvDigitCode):
        return f'="{str.__str__(value)}"'
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class SafeCsvWriter:
    """``csv.writer`` whose every cell goes through ``cell_safe``."""

    def __init__(self, out, **kwargs):
        self._writer = csv.writer(out, **kwargs)

    def writerow(self, row) -> Any:
        return self._writer.writerow([cell_safe(v) for v in row])
