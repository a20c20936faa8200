"""One department list (population/departments.py) for the sync and the sharing API: API
clients of 教育 and 民政 take the codes the feeds always had (``education`` -> ``edu``,
``civil_affairs`` -> ``civil``), so a client's department is the one its feeds are filed under.
"""

from django.db import migrations, models

RECODED = {"education": "edu", "civil_affairs": "civil"}


def _recode(apps, mapping):
    api_client = apps.get_model("sharing", "ApiClient")
    for old, new in mapping.items():
        api_client.objects.filter(department=old).update(department=new)


def recode(apps, schema_editor):
    _recode(apps, RECODED)


def recode_back(apps, schema_editor):
    _recode(apps, {new: old for old, new in RECODED.items()})


class Migration(migrations.Migration):
    dependencies = [
        ("sharing", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(recode, recode_back, elidable=False),
        migrations.AlterField(
            model_name="apiclient",
            name="department",
            field=models.CharField(
                choices=[
                    ("psb", "公安"),
                    ("hrss", "人社"),
                    ("edu", "教育"),
                    ("housing", "住建"),
                    ("health", "卫健"),
                    ("civil", "民政"),
                    ("tax", "税务"),
                    ("statistics", "统计"),
                ],
                max_length=20,
                verbose_name="部门",
            ),
        ),
    ]
