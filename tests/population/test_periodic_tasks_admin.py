"""The system's periodic tasks are editable and runnable by superusers only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from population import roles

pytestmark = pytest.mark.django_db

TASKS = "/admin/django_celery_beat/periodictask/"


@pytest.fixture
def task(db):
    every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.HOURS)
    return PeriodicTask.objects.create(
        name="测试任务", task="population.sync_inbox_scan", interval=every, enabled=True
    )


def _supervisor():
    user = User.objects.create_user("chief", password="pw-chief", is_staff=True)
    user.groups.add(Group.objects.get(name=roles.SUPERVISOR))
    # The role still holds the model permissions the sync migration gave it.
    assert User.objects.get(pk=user.pk).has_perm("django_celery_beat.change_periodictask")
    return user


def test_a_supervisor_can_neither_see_edit_nor_run_periodic_tasks(client, task):
    client.force_login(_supervisor())
    assert client.get(TASKS).status_code == 403
    assert client.get(f"{TASKS}{task.pk}/change/").status_code == 403
    response = client.post(f"{TASKS}{task.pk}/change/", {"name": "改名", "enabled": ""})
    assert response.status_code == 403
    run = client.post(TASKS, {"action": "run_tasks", "_selected_action": [task.pk]})
    assert run.status_code == 403
    task.refresh_from_db()
    assert (task.name, task.enabled) == ("测试任务", True)
    index = client.get("/admin/").content.decode()
    assert "django_celery_beat" not in index


def test_a_superuser_manages_them(client, task):
    client.force_login(User.objects.create_superuser("root", password="pw-root"))
    assert client.get(TASKS).status_code == 200
    assert client.get(f"{TASKS}{task.pk}/change/").status_code == 200
