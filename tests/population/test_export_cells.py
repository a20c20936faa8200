"""Every CSV popbase writes neutralises cells a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io

import pytest

from population.exports import CsvDigitCode, cell_safe
from population.sync import services
from population.sync.models import RejectedRow
from population.sync.selectors import rejected_rows_csv
from tests.sync.helpers import make_people

pytestmark = pytest.mark.django_db

HEADER = "record_no,citizen_id,name,employer,employer_credit_code,start_date,end_date\n"


@pytest.mark.parametrize("cell", ["=cmd|' /C calc'!A0", "@SUM(1+1)", "+1", "-1"])
def test_the_rejected_rows_download_neutralises_formula_cells(make_person, cell):
    people = make_people(make_person, n=2)
    good = "".join(
        f"R{i},{p.citizen_id},{p.name},某公司,91440700MA00000000,2024-01-01,\n"
        for i, p in enumerate(people)
    )
    content = (HEADER + good + f"{cell},x,y,z,w,v,u\n").encode()
    batch = services.batch_receive(department="hrss", content=content, filename="employment.csv",
                                   fmt="csv", source="api", enqueue=False)  # fmt: skip
    batch = services.batch_process(batch_id=batch.pk)
    assert list(RejectedRow.objects.values_list("line_no", flat=True)) == [4]
    text = "".join(rejected_rows_csv(batch=batch)).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][3].startswith("'" + cell)
    for row in rows:
        for value in row:
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value


@pytest.mark.parametrize(
    ("value", "shown"),
    [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"),
     ("\rx", "'\rx"), ("张三", "张三"), (12, 12), (None, None),
     ('="441800000000"', '\'="441800000000"'),  # the code form, typed as text: neutralised
     (CsvDigitCode("441800000000"), '="441800000000"')],
)  # fmt: skip
def test_cell_safe(value, shown):
    assert cell_safe(value) == shown


@pytest.mark.parametrize(
    "code", ["", "4418'", '441800"&HYPERLINK("x")&"', "=1+1", "４４１８", "4418 ", 441800000000]
)
def test_only_a_digits_only_code_becomes_the_text_formula(code):
    with pytest.raises(ValueError, match="digits-only"):
        CsvDigitCode(code)
