"""Browser tests: the real admin behind pytest-django's live server, in headless Chromium.

Playwright's sync API keeps an asyncio loop running in the test thread, so Django would refuse
ORM calls made there (fixtures, assertions) as "async unsafe"; the test thread never shares a
connection with the live server's thread, so allowing them is safe here.
"""

from __future__ import annotations

import os

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
