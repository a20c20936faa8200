"""End to end: an operator finds a task that failed for good under 运行维护 › 失败任务."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from config.celery import app
from ops.celery_policy import transient_retry
from ops.models import TaskFailure
from population.identity import build_citizen_id

from .conftest import watch_documents

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OPERATOR = "运维甲"
PASSWORD = "Yw-2026-运维-e2e!"
CITIZEN_ID = build_citizen_id("441802", dt.date(1985, 5, 5), 21)


@app.task(name="tests.e2e.ops_bad_input", **transient_retry(backoff=1))
def _bad_input(citizen_id):
    raise ValueError(f"no such person {citizen_id}")


def test_operator_sees_the_dead_task_with_the_citizen_id_masked(
    page, live_server, admin_login, tmp_path
):
    from django.contrib.auth.models import User

    # Runs here, as a worker would (not raised into the caller), and fails: a dead task.
    assert _bad_input.apply(args=[CITIZEN_ID], throw=False).failed()
    dead = TaskFailure.objects.get(task_name="tests.e2e.ops_bad_input")
    User.objects.create_superuser(OPERATOR, password=PASSWORD)
    watch_documents(page)

    admin_login(OPERATOR, PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/admin/")
    expect(page.locator("#content-main")).to_contain_text("运行维护")
    page.get_by_role("link", name="失败任务", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/ops/taskfailure/$"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td.field-task_name")).to_have_text("tests.e2e.ops_bad_input")
    expect(rows.first.locator("td.field-exception")).to_have_text("ValueError")
    page.screenshot(path=f"{tmp_path}/task-failures.png", full_page=True)

    rows.first.locator("th a").click()
    page.wait_for_url(re.compile(rf"/admin/ops/taskfailure/{dead.pk}/change/$"))
    masked = f"{CITIZEN_ID[:6]}********{CITIZEN_ID[-4:]}"
    expect(page.locator(".field-message .readonly")).to_have_text(f"no such person {masked}")
    expect(page.locator("body")).not_to_contain_text(CITIZEN_ID)
    # Read-only: no save button, and nothing to add.
    expect(page.locator("input[name=_save]")).to_have_count(0)
    expect(page.locator("#content").get_by_role("link", name=re.compile("增加"))).to_have_count(0)
    page.screenshot(path=f"{tmp_path}/task-failure.png", full_page=True)
    assert all(status < 400 for _url, status in page._popbase_documents)
