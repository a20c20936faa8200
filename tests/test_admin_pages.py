"""Every admin page a superuser can reach from the index answers without an error.

Built from the admin registry itself, so an admin added later is covered without a new row here:
for each registered model, its list, its list with facet counts (the 显示计数 link), its add page
and the change and history pages of one row when a row exists.
"""

from __future__ import annotations

import contextlib

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import NoReverseMatch, reverse


@pytest.fixture
def superuser_client(client, db):
    user = get_user_model().objects.create_superuser("root_pages", "root@example.org", "x")
    client.force_login(user)
    return client


def _pages(model, model_admin, request):
    """The pages the index and the list link to: the add page only where the admin offers it."""
    prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    yield reverse(f"{prefix}_changelist")
    yield reverse(f"{prefix}_changelist") + "?_facets=True"
    if model_admin.has_add_permission(request):
        with contextlib.suppress(NoReverseMatch):
            yield reverse(f"{prefix}_add")
    row = model._default_manager.order_by("pk").first()
    if row is not None:
        yield reverse(f"{prefix}_change", args=[row.pk])
        yield reverse(f"{prefix}_history", args=[row.pk])


def test_every_registered_admin_page_answers_without_an_error(
    superuser_client, make_person, village, rf
):
    make_person(name="李四", hukou_region=village)
    request = rf.get("/admin/")
    request.user = get_user_model().objects.get(username="root_pages")
    failures = []
    for model, model_admin in admin.site._registry.items():
        for url in _pages(model, model_admin, request):
            response = superuser_client.get(url)
            if response.status_code >= 400:
                failures.append((url, response.status_code))
    assert failures == []


def test_the_generic_history_events_admin_is_not_offered(superuser_client):
    index = superuser_client.get(reverse("admin:index")).content.decode()
    assert "/admin/pghistory/" not in index
    assert superuser_client.get("/admin/pghistory/events/").status_code == 404


def test_lists_of_large_tables_offer_no_facet_counts(superuser_client, make_person, village):
    make_person(name="李四", hukou_region=village)
    page = superuser_client.get(reverse("admin:population_person_changelist"))
    assert page.status_code == 200
    assert "_facets=True" not in page.content.decode()
    # Asked for anyway, the list still counts nothing per filter option.
    page = superuser_client.get(reverse("admin:population_person_changelist") + "?_facets=True")
    assert page.status_code == 200
    assert not page.context["cl"].add_facets


def test_permissions_are_named_in_chinese_on_the_superusers_pages(superuser_client):
    import re

    from django.contrib.auth.models import Permission

    from population.permission_names import permission_names_translate

    english = [p.name for p in Permission.objects.all() if re.search("[A-Za-z]{3,}", p.name)]
    assert english == []
    assert Permission.objects.get(codename="view_person").name == "可查看人员"
    history = Permission.objects.get(codename="add_residencepermitevent")
    assert history.name == "可增加居住证变更历史"
    # A permission Django creates later in English is renamed the next time, and only once.
    Permission.objects.filter(codename="change_household").update(name="Can change household")
    assert permission_names_translate() == 1
    assert permission_names_translate() == 0
    page = superuser_client.get(reverse("admin:auth_group_add")).content.decode()
    assert "可修改户" in page and "Can change" not in page
    # django-axes' models and the libraries' apps by their Chinese names (locale/, library_apps).
    assert "登录保护 | 登录尝试 | 可查看登录尝试" in page
    index = superuser_client.get(reverse("admin:index")).content.decode()
    for english in ("Access attempts", "Axes", "API Key Permissions", "Pghistory"):
        assert english not in index, english
    assert "登录尝试" in index
