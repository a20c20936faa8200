"""The department inbox schedules are named with the department in Chinese (they were named
with its code, e.g. ``部门数据交换目录扫描：tax``), and described in Chinese only."""

from django.db import migrations

DEPARTMENT_ZH = {
    "hrss": "人社",
    "edu": "教育",
    "housing": "住建",
    "health": "卫健",
    "civil": "民政",
    "tax": "税务",
}
DESCRIPTION = "扫描该部门交换目录中的新文件并接收为批次"


def rename(apps, schema_editor):
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    for code, zh in DEPARTMENT_ZH.items():
        task_model.objects.filter(name=f"部门数据交换目录扫描：{code}").update(
            name=f"部门数据交换目录扫描：{zh}", description=DESCRIPTION
        )


def rename_back(apps, schema_editor):
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    for code, zh in DEPARTMENT_ZH.items():
        task_model.objects.filter(name=f"部门数据交换目录扫描：{zh}").update(
            name=f"部门数据交换目录扫描：{code}"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("population", "0024_fact_fillfactor"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(rename, rename_back)]
