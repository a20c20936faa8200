"""Helpers of the department sync tests: persons to write feeds about, expected good rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

from population.sync.parsing import decode
from population.sync.samples import SampleFeed


def make_people(make_person, n: int = 24):
    """Men and women of ages 25 to 90, so every feed finds spouses, mothers and the old."""
    people = []
    for i in range(n):
        born = dt.date(1935 + (i * 53) % 65, 1 + i % 12, 1 + i % 27)
        people.append(make_person(name=f"测试{i}", born=born, male=i % 2 == 0))
    return people


def good_record_numbers(feed: SampleFeed) -> set[str]:
    """Record numbers of the rows the pipeline must apply (faulty lines left out)."""
    text, _ = decode(feed.content)
    bad = feed.bad_lines
    numbers = set()
    if feed.fmt == "csv":
        reader = csv.reader(io.StringIO(text, newline=""))
        next(reader)
        for line_no, row in enumerate(reader, start=2):
            if line_no not in bad:
                numbers.add(row[0])
    else:
        for line_no, line in enumerate(text.splitlines(), start=1):
            if line_no not in bad:
                numbers.add(json.loads(line)["record_no"])
    return numbers
