"""One rule for every CSV and XLSX cell popbase writes: text a spreadsheet would run as a
formula (starting with =, +, -, @, tab or CR) gets a leading apostrophe, so it shows as text."""

from __future__ import annotations

import csv
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell_safe(value: Any) -> Any:
    """The value as a spreadsheet should show it: formula-like text neutralised, rest as is."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class SafeCsvWriter:
    """``csv.writer`` whose every cell goes through ``cell_safe``."""

    def __init__(self, out, **kwargs):
        self._writer = csv.writer(out, **kwargs)

    def writerow(self, row) -> Any:
        return self._writer.writerow([cell_safe(v) for v in row])
