"""``make test`` passes with and without ``DATABASE_URL`` (the embedded server when it is unset):
no test takes the database from the environment, only from the connection's settings
(tests/dburl.py). A test that read ``os.environ["DATABASE_URL"]`` for a worker's database once
failed with ``KeyError`` for every new user of ``make test`` while CI, which sets it, passed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dburl import subprocess_database_url

TESTS = Path(__file__).resolve().parent
# Reading the variable (a lookup, ``get`` or ``getenv``); removing it from a child's environment
# (``k != "DATABASE_URL"``) is no read.
READ = re.compile(
    r"""(environ\s*\[\s*["']DATABASE_URL["']\s*\]\s*(?!=[^=])"""
    r"""|environ\.get\(\s*["']DATABASE_URL["']|getenv\(\s*["']DATABASE_URL["'])"""
)


def test_no_test_reads_the_database_from_the_environment():
    readers = [
        f"{path.relative_to(TESTS.parent)}:{n}"
        for path in sorted(TESTS.rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if READ.search(line) and path != Path(__file__).resolve()
    ]
    assert readers == []


def test_the_pattern_finds_a_read_and_passes_a_removal():
    assert READ.search('url = os.environ["DATABASE_URL"]')
    assert READ.search("os.environ.get('DATABASE_URL', '')")
    assert READ.search('os.getenv("DATABASE_URL")')
    assert not READ.search('env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}')
    assert not READ.search('env = {**os.environ, "DATABASE_URL": url}')


@pytest.mark.django_db(transaction=True)
def test_a_subprocess_reaches_the_test_database_with_the_variable_unset(monkeypatch, make_person):
    person = make_person()
    monkeypatch.delenv("DATABASE_URL", raising=False)
    url = subprocess_database_url()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    code = (
        "import sys, psycopg\n"
        "with psycopg.connect(sys.argv[1]) as c:\n"
        "    print(c.execute('SELECT citizen_id FROM population_person').fetchone()[0])\n"
    )
    done = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", code, url], env=env, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == person.citizen_id
