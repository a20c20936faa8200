"""Periodic tasks: a supervisor may read them, only a superuser may change or run them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from population import roles

pytestmark = pytest.mark.django_db


@pytest.fixture
def task(db):
    every = IntervalSchedule.objects.create(every=10, period=IntervalSchedule.MINUTES)
    return PeriodicTask.objects.create(name="测试任务", task="population.noop", interval=every)


def test_a_supervisor_sees_the_tasks_but_cannot_change_or_run_them(client, django_user_model, task):
    user = django_user_model.objects.create_user("sup", is_staff=True)
    user.groups.add(Group.objects.get(name=roles.SUPERVISOR))
    # The role still holds the model permissions the sync migration gave it: the admin refuses.
    assert django_user_model.objects.get(pk=user.pk).has_perm(
        "django_celery_beat.change_periodictask"
    )
    client.force_login(user)
    listing = client.get("/admin/django_celery_beat/periodictask/")
    assert listing.status_code == 200
    body = listing.content.decode()
    assert 'name="action"' not in body  # no run / enable / disable actions
    url = f"/admin/django_celery_beat/periodictask/{task.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()  # read only
    before = PeriodicTask.objects.values().get(pk=task.pk)
    response = client.post(url, {"name": "改名", "task": "population.noop", "enabled": ""})
    assert response.status_code == 403
    run = client.post(
        "/admin/django_celery_beat/periodictask/",
        {"action": "run_tasks", "_selected_action": [task.pk]},
    )
    assert run.status_code in (200, 302)
    after = PeriodicTask.objects.values().get(pk=task.pk)
    assert {k: v for k, v in after.items() if k != "date_changed"} == {
        k: v for k, v in before.items() if k != "date_changed"
    }
    assert client.get("/admin/django_celery_beat/periodictask/add/").status_code == 403


def test_a_superuser_may_change_them(client, django_user_model, task):
    client.force_login(django_user_model.objects.create_superuser("root", password="x"))
    page = client.get("/admin/django_celery_beat/periodictask/")
    assert 'name="action"' in page.content.decode()
    change = client.get(f"/admin/django_celery_beat/periodictask/{task.pk}/change/")
    assert change.status_code == 200
    assert 'name="_save"' in change.content.decode()


def test_the_department_inbox_schedules_are_named_in_chinese(client, django_user_model):
    """The supervisor's list names each inbox scan by its department in Chinese, no codes."""
    import importlib

    rename = importlib.import_module("population.migrations.0025_inbox_schedule_names_in_chinese")
    scans = PeriodicTask.objects.filter(task="population.sync.inbox_scan")
    assert sorted(scans.values_list("name", flat=True)) == sorted(
        f"部门数据交换目录扫描：{zh}" for zh in rename.DEPARTMENT_ZH.values()
    )
    # A database migrated before the rename gets its schedules renamed.
    tax = scans.get(name="部门数据交换目录扫描：税务")
    PeriodicTask.objects.filter(pk=tax.pk).update(name="部门数据交换目录扫描：tax")
    from django.apps import apps as django_apps

    rename.rename(django_apps, None)
    assert PeriodicTask.objects.get(pk=tax.pk).name == "部门数据交换目录扫描：税务"
    user = django_user_model.objects.create_user("sup2", is_staff=True)
    user.groups.add(Group.objects.get(name=roles.SUPERVISOR))
    client.force_login(user)
    body = client.get("/admin/django_celery_beat/periodictask/").content.decode()
    assert "部门数据交换目录扫描：卫健" in body and "扫描部门交换目录，接收新文件" in body
    for english in ("目录扫描：tax", "scan the inbox folder", "Scheduler", "population.sync"):
        assert english not in body
    page = client.get(f"/admin/django_celery_beat/periodictask/{tax.pk}/change/")
    text = page.content.decode()
    assert page.status_code == 200 and "每 60 分钟" in text
    for english in ("Regtask", "Task Name", "population.sync", "department", "False", "None"):
        assert english not in text
    assert "尚未运行" in text
