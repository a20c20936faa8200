"""End to end: a supervisor finds a department batch refused for its encoding under 部门数据批次.

The stored file no longer reads as the encoding it was received in (Big5 bytes where GBK was
received): the worker refuses it whole (``encoding_suspect``) instead of storing garbled names,
and the batch page says why in Chinese.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import watch_documents

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SUPERVISOR = "所长甲"
PASSWORD = "Sz-2026-所长-e2e!"
HEADER = "record_no,citizen_id,name,employer,employer_credit_code,start_date,end_date\n"


def test_supervisor_sees_a_batch_refused_for_its_encoding(
    page, live_server, admin_login, make_person
):
    from django.contrib.auth.models import Group, User

    from population import roles
    from population.sync import services
    from population.sync.models import Batch, BatchStatus, Fact
    from population.sync.tasks import batch_process_task

    person = make_person()

    def feed(name: str, employer: str) -> str:
        rows = [f"R{i},{person.citizen_id},{name},{employer},9144,2024-01-01,\n" for i in range(6)]
        return HEADER + "".join(rows)

    batch = services.batch_receive(
        department="hrss", content=feed("张伟", "江门市测试公司").encode("gb18030"),
        filename="employment_202601.csv", fmt="csv", source="inbox", enqueue=False,
    )  # fmt: skip
    # Stored before the check, or changed since: names in Big5, which also decode as GBK.
    big5 = feed("張偉", "臺北市測試公司").encode("big5")
    Batch.objects.filter(pk=batch.pk).update(content=big5)
    assert batch_process_task.apply(args=[batch.pk]).get() == BatchStatus.QUARANTINED
    assert not Fact.objects.exists()
    user = User.objects.create_user(SUPERVISOR, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=roles.SUPERVISOR))
    watch_documents(page)

    admin_login(SUPERVISOR, PASSWORD)
    page.get_by_role("link", name="部门数据批次", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/sync/batch/$"))
    row = page.locator("#result_list tbody tr").first
    expect(row.locator("td.field-status")).to_have_text("已隔离")
    row.locator("th a").click()
    page.wait_for_url(re.compile(rf"/admin/sync/batch/{batch.pk}/change/$"))
    error = page.locator(".field-last_error .readonly")
    expect(error).to_contain_text("文件编码可疑")
    expect(error).to_contain_text("像是Big5或Shift-JIS编码")
    expect(error).to_contain_text("请以UTF-8或GBK重新导出")
    page.screenshot(path="docs/img/feed-batch-encoding-suspect.png", full_page=True)
    assert all(status < 400 for _url, status in page._popbase_documents)
