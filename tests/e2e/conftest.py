"""Browser tests: the real admin behind pytest-django's live server, in headless Chromium.

Playwright's sync API keeps an asyncio loop running in the test thread, so Django would refuse
ORM calls made there (fixtures, assertions) as "async unsafe"; the test thread never shares a
connection with the live server's thread, so allowing them is safe here.
"""

from __future__ import annotations

import os
import re

import pytest

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
# Only the system Chromium below is used; Playwright must never fetch a browser of its own.
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

CHROMIUM = "/usr/bin/chromium"

OFFICER_USERNAME = "officer_e2e"
OFFICER_PASSWORD = "Mj-2024-户籍-e2e!"

# What the officer role needs in this test; population/migrations/0002_roles.py grants these
# (and more) to the group, and they are re-granted here if a flush removed the migration rows.
OFFICER_PERMISSIONS = (
    "population.view_person",
    "population.add_person",
    "population.change_person",
    "population.view_full_citizen_id",
    "population.view_region",
)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture
def officer(db):
    """A staff user in the 户籍民警 group; ``officer.raw_password`` is the login password.

    The group and its permissions come from the data migrations (replayed after every flush);
    the ones this test relies on are granted again here, idempotently, so the test states them.
    """
    from django.contrib.auth.models import Group, Permission, User

    from population.roles import REGISTRATION_OFFICER

    group, _ = Group.objects.get_or_create(name=REGISTRATION_OFFICER)
    for perm in OFFICER_PERMISSIONS:
        app_label, codename = perm.split(".")
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    user = User.objects.create_user(OFFICER_USERNAME, password=OFFICER_PASSWORD, is_staff=True)
    user.groups.add(group)
    user = User.objects.get(pk=user.pk)  # fresh permission cache
    assert user.has_perm("population.view_full_citizen_id")
    user.raw_password = OFFICER_PASSWORD
    return user


@pytest.fixture
def admin_login(page, live_server):
    """Open the admin login page and submit the form; returns the page."""

    def _login(username: str, password: str):
        page.goto(f"{live_server.url}/admin/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("#login-form [type=submit]")
        page.wait_for_load_state("domcontentloaded")
        return page

    return _login


# -- page checks shared by the journeys ----------------------------------------------------------

# Latin words an officer may see: the product's name and file formats.
ALLOWED_WORDS = frozenset({"popbase", "PDF", "XLSX", "CSV"})
# A run of Latin letters not joined to digits: document numbers such as QC202600000001 or a
# citizen ID's X are codes, not words.
_LATIN_WORD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2,}(?![A-Za-z0-9])")
_PYTHON_REPR = re.compile(r"\b(None|True|False)\b|#\d+")


def watch_documents(page) -> None:
    """Record the status of every page the browser loads (main documents only)."""
    if getattr(page, "_popbase_documents", None) is None:
        page._popbase_documents = []
        page.on(
            "response",
            lambda r: (
                page._popbase_documents.append((r.url, r.status))
                if r.request.resource_type == "document"
                else None
            ),
        )


def assert_clean_page(page) -> None:
    """What an officer reads on this page: every page loaded so far answered below 400, and the
    visible text has no English word outside ``ALLOWED_WORDS`` and no Python repr (``None``,
    ``True``, ``False``, ``#12``). Call ``watch_documents(page)`` before the journey starts."""
    page.wait_for_load_state("domcontentloaded")
    failed = [
        (url, status) for url, status in getattr(page, "_popbase_documents", []) if status >= 400
    ]
    assert not failed, f"pages answered with an error: {failed}"
    text = page.locator("body").inner_text()
    english = sorted({w for w in _LATIN_WORD.findall(text) if w not in ALLOWED_WORDS})
    assert not english, f"English on {page.url}: {english}"
    repr_found = [m.group(0) for m in _PYTHON_REPR.finditer(text)]
    assert not repr_found, f"internals on {page.url}: {repr_found}"
