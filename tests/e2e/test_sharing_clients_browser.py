"""End to end: a superuser sets up a department API client under 数据共享 › 接口客户端, ticking
endpoints and change kinds by their Chinese labels (some registered by the settlement and permit
apps), gets its key once, and the key works on the API."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import watch_documents

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ADMIN = "共享管理甲"
PASSWORD = "Gx-2026-共享-e2e!"


def test_superuser_creates_a_client_by_ticking_labelled_scopes_and_the_key_works(
    page, live_server, admin_login, tmp_path, make_person, village
):
    from django.contrib.auth.models import User

    from population.sharing.models import ApiClient, ApiKey

    User.objects.create_superuser(ADMIN, password=PASSWORD)
    person = make_person(name="李四", hukou_region=village)
    watch_documents(page)

    admin_login(ADMIN, PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/admin/")
    section = page.locator("#content-main .app-sharing")
    expect(section.locator("caption")).to_contain_text("数据共享")
    section.get_by_role("link", name="接口客户端", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/sharing/apiclient/$"))
    page.locator("#content").get_by_role("link", name=re.compile("增加")).click()
    page.wait_for_url(re.compile(r"/admin/sharing/apiclient/add/$"))

    page.fill("input[name=code]", "hrss-pension")
    page.fill("input[name=name]", "人社局养老保险系统")
    page.select_option("select[name=department]", label="人社")
    endpoints = page.locator(".field-endpoints")
    endpoints.get_by_label("人员信息查询").check()
    endpoints.get_by_label("落户条件预检").check()  # registered by the settlement app
    page.locator(".field-person_fields").get_by_label("姓名").check()
    page.locator(".field-purposes").get_by_label("社会保险经办").check()
    kinds = page.locator(".field-change_kinds")
    kinds.get_by_label("出生登记").check()  # the registry's
    kinds.get_by_label("居住证签发").check()  # the permit app's
    page.locator(".field-facts").get_by_label("持有有效居住证").check()
    page.screenshot(path=f"{tmp_path}/api-client-add.png", full_page=True)
    page.locator("input[name=_save]").click()

    page.wait_for_url(re.compile(r"/admin/sharing/apiclient/$"))
    shown = page.locator(".messagelist .warning")
    expect(shown).to_contain_text("只显示这一次")
    secret = re.search(r"：(\S+\.\S+)$", shown.inner_text().strip()).group(1)
    page.screenshot(path=f"{tmp_path}/api-client-key.png", full_page=True)

    client = ApiClient.objects.get(code="hrss-pension")
    assert client.endpoints == ["persons", "settlement_precheck"]
    assert client.change_kinds == ["birth", "permit_issued"]
    assert client.facts == ["valid_residence_permit"]
    assert ApiKey.objects.get(client=client).prefix == secret.split(".")[0]

    # The key shown once works on the API within the ticked scope; the rest is refused.
    headers = {"Authorization": f"Api-Key {secret}", "X-Purpose": "social_insurance"}
    found = page.request.get(
        f"{live_server.url}/api/v1/persons/{person.citizen_id}", headers=headers
    )
    assert found.status == 200, found.text()
    assert found.json()["name"] == "李四"
    refused = page.request.get(f"{live_server.url}/api/v1/changes", headers=headers)
    assert (refused.status, refused.json()["code"]) == (403, "endpoint_not_allowed")

    # The client's page shows the same boxes ticked, and the key never again.
    page.get_by_role("link", name="人社局养老保险系统").click()
    page.wait_for_url(re.compile(rf"/admin/sharing/apiclient/{client.pk}/change/$"))
    expect(endpoints.get_by_label("落户条件预检")).to_be_checked()
    expect(endpoints.get_by_label("身份核验")).not_to_be_checked()
    expect(kinds.get_by_label("居住证签发")).to_be_checked()
    expect(page.locator("body")).not_to_contain_text(secret)
    page.screenshot(path=f"{tmp_path}/api-client-change.png", full_page=True)
    assert all(status < 400 for _url, status in page._popbase_documents)
