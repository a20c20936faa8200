"""Chinese error pages in the admin's look instead of Django's bare English ones."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from django.test import Client, RequestFactory

from population import roles
from population.error_pages import server_error

ENGLISH = re.compile(r"\b(Not Found|Forbidden|Server Error|Django|CSRF|requested resource)\b")


@pytest.fixture
def officer(django_user_model, city, assign_area):
    user = django_user_model.objects.create_user("officer", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=roles.REGISTRATION_OFFICER))
    assign_area(user, city)
    return user


def test_a_missing_admin_page_is_a_chinese_404_with_a_way_home(client, officer):
    client.force_login(officer)
    response = client.get("/admin/no-such-desk/", follow=True)
    body = response.content.decode()
    assert response.status_code == 404
    assert "您要访问的页面不存在" in body
    assert 'id="error-home" href="/admin/"' in body
    assert "人口基础信息库 popbase" in body  # the admin's header, not a bare page
    assert not ENGLISH.search(body)


def test_a_refused_page_is_a_chinese_403(client, officer):
    client.force_login(officer)
    response = client.get("/admin/statistics/")  # officers do not hold view_statistics
    body = response.content.decode()
    assert response.status_code == 403
    assert "您没有执行此操作或查看此页面的权限" in body
    assert not ENGLISH.search(body)


def test_a_refused_csrf_token_is_a_chinese_403(db):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/admin/login/", {"username": "a", "password": "b"})
    body = response.content.decode()
    assert response.status_code == 403
    assert "表单已过期" in body
    assert not ENGLISH.search(body)


def test_the_500_page_is_chinese_and_needs_no_database():
    request = RequestFactory().get("/admin/")
    response = server_error(request)
    body = response.content.decode()
    assert response.status_code == 500
    assert "系统处理时出错" in body
    assert not ENGLISH.search(body)


def test_the_view_site_link_is_gone_and_the_root_leads_to_the_admin(client, officer):
    client.force_login(officer)
    index = client.get("/admin/").content.decode()
    assert "查看站点" not in index
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_a_refused_form_has_a_chinese_title(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", password="x"))
    response = client.post("/admin/population/region/add/", {})
    body = response.content.decode()
    assert response.status_code == 200
    title = body.split("<title>")[1].split("</title>")[0]
    assert title.startswith("错误：") and "Error" not in title
    index = client.get("/admin/").content.decode()
    assert "Model name" not in index and "模型名称" in index
