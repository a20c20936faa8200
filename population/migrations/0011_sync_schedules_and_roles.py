"""Per-department inbox scans as django-celery-beat schedules (editable in the admin) and
the roles' rights on the department sync."""

import json

from django.db import migrations

from population import roles
from population.replay import replay_after_flush

DEPARTMENTS = ("hrss", "edu", "housing", "health", "civil", "tax")
# The schedules are named for officers (the admin shows the name): the department in Chinese.
DEPARTMENT_ZH = {
    "hrss": "人社",
    "edu": "教育",
    "housing": "住建",
    "health": "卫健",
    "civil": "民政",
    "tax": "税务",
}
# 卫健 deaths and births matter within minutes; the others arrive as daily files.
EVERY_MINUTES = {"health": 5}


@replay_after_flush
def schedules(apps, schema_editor):
    interval_model = apps.get_model("django_celery_beat", "IntervalSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    for department in DEPARTMENTS:
        every = EVERY_MINUTES.get(department, 60)
        interval, _ = interval_model.objects.get_or_create(every=every, period="minutes")
        task_model.objects.get_or_create(
            name=f"部门数据交换目录扫描：{DEPARTMENT_ZH[department]}",
            defaults={
                "task": "population.sync.inbox_scan",
                "interval": interval,
                "kwargs": json.dumps({"department": department}),
                "description": "扫描该部门交换目录中的新文件并接收为批次",
            },
        )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        task="population.sync.inbox_scan"
    ).delete()


@replay_after_flush
def grant(apps, schema_editor):
    view_all = ["population.view_batch", "population.view_fact", "population.view_followup"]
    roles.grant_permissions(
        apps,
        schema_editor,
        {
            roles.REGISTRATION_OFFICER: [
                "population.view_fact",
                "population.view_followup",
                "population.change_followup",  # closes an item once it is handled
            ],
            roles.SUPERVISOR: [
                *view_all,
                "population.change_followup",
                "django_celery_beat.view_periodictask",
                "django_celery_beat.change_periodictask",  # edits department schedules
            ],
            roles.AUDITOR: view_all,
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("population", "0010_department_sync"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(schedules, unschedule),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
