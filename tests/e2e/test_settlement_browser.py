"""End to end: a settlement application from submitted to completed through the admin, with an
officer who accepts and a supervisor who approves (two logins)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from playwright.sync_api import expect

from population.identity import build_citizen_id

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

PASSWORD = "Zq-2024-落户-e2e!"


def _user(username, role, perms, area):
    """A staff user in ``role`` working in ``area``; the group's permissions are (re)granted, as
    a flush between transactional tests may have removed the migration rows."""
    from django.contrib.auth.models import Group, Permission, User

    group, _ = Group.objects.get_or_create(name=role)
    for perm in perms:
        app_label, codename = perm.split(".")
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    user = User.objects.create_user(username, password=PASSWORD, is_staff=True)
    user.groups.add(group)
    user.jurisdiction_regions.create(region=area)
    return user


def test_application_from_submitted_to_completed_with_two_officers(
    page, live_server, admin_login, village, tmp_path
):
    from population import roles
    from registry import services as registry
    from registry.models import HouseholdKind, Membership
    from settlement import services
    from settlement.models import Application, Status
    from settlement.rules import DATA_DIR, ruleset_load_file, rulesets_load_shipped

    rulesets_load_shipped()
    data = json.loads((DATA_DIR / "qingyuan-2015.json").read_text(encoding="utf-8"))
    data.update(version="2024-e2e", effective_from="2024-01-01", effective_to=None)
    path = tmp_path / "qy.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    ruleset_load_file(path=path)
    work = ["settlement.view_application", "settlement.change_application"]
    city = village.parent.parent.parent  # the applicant is not recorded yet: city-wide staff
    _user("clerk_e2e", roles.REGISTRATION_OFFICER, work, city)
    _user("chief_e2e", roles.SUPERVISOR, [*work, "settlement.decide_application"], city)
    household = registry.household_create(
        kind=HouseholdKind.FAMILY, address="凤城路9号", region=village, actor=None
    )
    applicant_id = build_citizen_id("441802", dt.date(1990, 1, 1), 3)
    app = services.application_create(
        city_code="441800",
        on=dt.date(2024, 3, 4),
        channel="home_purchase",
        target="residence",
        citizen_id=applicant_id,
        name="李四",
        evidence={"owns_residential_home": True, "property_certificate": True},
        actor=None,
    )
    services.application_submit(application=app, actor=None, on=dt.date(2024, 3, 4))
    change_url = f"{live_server.url}/admin/settlement/application/{app.pk}/change/"

    def act(label: str, fill=None):
        page.goto(change_url)
        page.locator(".object-tools a", has_text=label).click()
        if fill:
            fill()
        page.click(f"input[type=submit][value='确认{label}']")
        expect(page.locator(".messagelist")).to_contain_text(f"{label}：已办理")

    # The officer accepts and starts the review; no approve button for them.
    admin_login("clerk_e2e", PASSWORD)
    page.goto(change_url)
    expect(page.locator(".object-tools")).to_contain_text("受理")
    act("受理")
    act("开始审核调查")
    expect(page.locator(".object-tools")).not_to_contain_text("审批通过")
    expect(page.locator(".field-eligibility_panel")).to_contain_text("✔ 符合")

    # The supervisor logs in, approves, issues the transfer permit and completes.
    page.context.clear_cookies()
    admin_login("chief_e2e", PASSWORD)
    act("审批通过")
    act("签发准迁证", lambda: page.select_option("select[name=household]", str(household.pk)))
    expect(page.locator(".field-permit_number")).to_contain_text(re.compile(r"准迁4418\d{10}"))
    act("办理落户")
    expect(page.locator(".field-status")).to_contain_text("已落户")
    expect(page.locator(".object-tools")).to_contain_text("无可办理的操作")

    app = Application.objects.get(pk=app.pk)
    assert app.status == Status.COMPLETED
    assert [t.officer.username for t in app.transitions.order_by("pk")[1:]] == [
        "clerk_e2e",
        "clerk_e2e",
        "chief_e2e",
        "chief_e2e",
        "chief_e2e",
    ]
    assert Membership.objects.filter(
        household=household, person__citizen_id=applicant_id, end_date__isnull=True
    ).exists()
