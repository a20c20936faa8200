"""Each role follows the links and buttons its admin pages show: none ends on 403 or 404.

The demo city is seeded (permits due, quality issues, applications in each state), then for
each staff role a crawl starts at the admin index and follows every link inside the page
content, one page of each kind (paths alike but for ids), the way an officer clicks. A link
the role may not use (a print button for the auditor, a staff member's name linking to the
user accounts only superusers see) must not be shown at all.
"""

from __future__ import annotations

import io
import re
from collections import deque
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from population import roles
from population.models import OfficerRegion, Person, Region, RegionLevel

SKIP = ("logout", "password", "delete", "confirm", "/statistics/export")
MAX_PAGES = 220


class _Links(HTMLParser):
    """``<a href>`` inside ``<div id="content">`` (the header and breadcrumbs are Django's)."""

    def __init__(self):
        super().__init__()
        self.depth = 0  # div nesting inside #content, 0 = outside
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div":
            if self.depth:
                self.depth += 1
            elif attrs.get("id") == "content":
                self.depth = 1
        if tag == "a" and self.depth and attrs.get("href"):
            self._href, self._text = attrs["href"], []

    def handle_endtag(self, tag):
        if tag == "div" and self.depth:
            self.depth -= 1
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text).strip()))
            self._href = None

    def handle_data(self, data):
        if self._href is not None:
            self._text.append(data)


def _kind(path: str) -> str:
    return re.sub(r"\d+", "N", path)


def crawl(client) -> tuple[list[tuple[str, int, str, str]], int]:
    """(url, status, linked from, link text) of every link that failed, and pages fetched."""
    start = reverse("admin:index")
    queue = deque([(start, "", "")])
    seen_kinds: set[str] = set()
    failures = []
    fetched = 0
    while queue and fetched < MAX_PAGES:
        url, source, text = queue.popleft()
        parts = urlsplit(url)
        kind = _kind(parts.path) + ("?" + "&".join(sorted(k for k in _keys(parts.query))))
        if kind in seen_kinds:
            continue
        seen_kinds.add(kind)
        response = client.get(url)
        fetched += 1
        if response.status_code >= 400:
            failures.append((url, response.status_code, source, text))
            continue
        if response.status_code in (301, 302):
            continue
        if "text/html" not in response.get("Content-Type", ""):
            continue
        parser = _Links()
        parser.feed(response.content.decode())
        for href, link_text in parser.links:
            target = urljoin(url, href)
            target_parts = urlsplit(target)
            if target_parts.netloc or not target_parts.path.startswith("/admin/"):
                continue
            if any(word in target_parts.path for word in SKIP) or href.startswith("#"):
                continue
            queue.append(
                (
                    target_parts.path + (f"?{target_parts.query}" if target_parts.query else ""),
                    url,
                    link_text,
                )
            )
    return failures, fetched


def _keys(query: str):
    return [pair.split("=")[0] for pair in query.split("&") if pair]


@pytest.fixture
def demo_city(db, settings, tmp_path):
    settings.POPBASE_DATA_DIR = tmp_path / "data"
    call_command(
        "seed_demo",
        "--persons",
        "400",
        "--seed",
        "3",
        verbosity=0,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    placed = Person.objects.exclude(hukou_region=None).values_list("hukou_region_id", flat=True)[0]
    return Region.objects.get(level=RegionLevel.CITY, code=placed[:4] + "00000000")


def _staff(username: str, role: str, city) -> object:
    user = get_user_model().objects.create_user(username, is_staff=True, first_name=username)
    user.groups.add(Group.objects.get(name=role))
    OfficerRegion.objects.create(user=user, region=city)
    return user


@pytest.mark.parametrize(
    "role",
    [roles.REGISTRATION_OFFICER, roles.SUPERVISOR, roles.STATISTICIAN, roles.AUDITOR],
    ids=["officer", "supervisor", "statistician", "auditor"],
)
def test_no_link_a_role_is_shown_ends_on_an_error_page(client, demo_city, role):
    # Another officer's name appears on the pages (辖区分配, 居住证事项, 经办人 …).
    _staff("colleague", roles.REGISTRATION_OFFICER, demo_city)
    client.force_login(_staff("reader", role, demo_city))
    failures, fetched = crawl(client)
    assert fetched > 20
    assert failures == []
