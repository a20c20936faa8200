"""The statistics models, taken over from ``population`` in Django's state only: the table keeps
its name (``population_statsnapshot``, created by population 0012) and its rows.

Their content types move from ``population`` to ``statistics`` in the same migration (no other
migration can create the new ones in between), so the permission rows — ``view_statistics``
and ``view_statsnapshot`` — and every group and user holding them are kept.
"""

from django.db import migrations, models

from population.replay import replay_after_flush
from population.roles import STATISTICIAN, SUPERVISOR, grant_permissions

MODELS = ("statsnapshot", "statisticsdesk")


def _content_types_move(apps, source: str, target: str) -> None:
    content_type_model = apps.get_model("contenttypes", "ContentType")
    permission_model = apps.get_model("auth", "Permission")
    for model in MODELS:
        old = content_type_model.objects.filter(app_label=source, model=model).first()
        if old is None:
            continue
        new = content_type_model.objects.filter(app_label=target, model=model).first()
        if new is None:
            old.app_label = target
            old.save(update_fields=["app_label"])
            continue
        # Both exist (content types made for the new label beforehand): the old permissions'
        # holders get the new ones, then the old rows go.
        for permission in permission_model.objects.filter(content_type=old):
            twin = permission_model.objects.filter(
                content_type=new, codename=permission.codename
            ).first()
            if twin is None:
                permission.content_type = new
                permission.save(update_fields=["content_type"])
                continue
            for group in permission.group_set.all():
                group.permissions.add(twin)
            for user in permission.user_set.all():
                user.user_permissions.add(twin)
            permission.delete()
        log_entry_model = apps.get_model("admin", "LogEntry")
        log_entry_model.objects.filter(content_type=old).update(content_type=new)
        old.delete()


def content_types_forward(apps, schema_editor):
    _content_types_move(apps, "population", "statistics")


def content_types_backward(apps, schema_editor):
    _content_types_move(apps, "statistics", "population")


@replay_after_flush
def grant(apps, schema_editor):
    """The roles' statistics rights (kept by the move above; granted again after a flush)."""
    grant_permissions(
        apps,
        schema_editor,
        {
            STATISTICIAN: ["statistics.view_statistics", "statistics.view_statsnapshot"],
            SUPERVISOR: ["statistics.view_statistics", "statistics.view_statsnapshot"],
        },
    )


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("population", "0033_statistics_models_to_own_app"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("admin", "0003_logentry_add_action_flag_choices"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="StatSnapshot",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "month",
                            models.DateField(help_text="统计时点（月末）", verbose_name="月末日期"),
                        ),
                        ("region_code", models.CharField(max_length=12, verbose_name="区划代码")),
                        (
                            "level",
                            models.PositiveSmallIntegerField(
                                help_text="2 地级 3 县级 4 乡级", verbose_name="级别"
                            ),
                        ),
                        ("registered_total", models.PositiveIntegerField(verbose_name="户籍人口")),
                        (
                            "registered_urban",
                            models.PositiveIntegerField(verbose_name="户籍城镇人口"),
                        ),
                        (
                            "registered_unclassified",
                            models.PositiveIntegerField(
                                default=0, verbose_name="户籍人口中无城乡分类"
                            ),
                        ),
                        (
                            "registered_away",
                            models.PositiveIntegerField(default=0, verbose_name="户在人不在"),
                        ),
                        ("resident_total", models.PositiveIntegerField(verbose_name="常住人口")),
                        (
                            "resident_urban",
                            models.PositiveIntegerField(verbose_name="常住城镇人口"),
                        ),
                        (
                            "resident_unclassified",
                            models.PositiveIntegerField(
                                default=0, verbose_name="常住人口中无城乡分类"
                            ),
                        ),
                        (
                            "separated",
                            models.PositiveIntegerField(default=0, verbose_name="人户分离"),
                        ),
                        (
                            "resident_male",
                            models.PositiveIntegerField(default=0, verbose_name="常住男性"),
                        ),
                        (
                            "resident_female",
                            models.PositiveIntegerField(default=0, verbose_name="常住女性"),
                        ),
                        (
                            "pyramid",
                            models.JSONField(
                                default=dict,
                                help_text='{"resident": {"1": [21组], "2": [...]}, ...}',
                                verbose_name="年龄性别结构",
                            ),
                        ),
                        (
                            "source",
                            models.CharField(
                                choices=[("current", "当时记录"), ("history", "历史回溯")],
                                default="current",
                                max_length=10,
                                verbose_name="来源",
                            ),
                        ),
                        ("taken_at", models.DateTimeField(auto_now=True, verbose_name="生成时间")),
                    ],
                    options={
                        "verbose_name": "统计快照",
                        "verbose_name_plural": "统计快照",
                        "db_table": "population_statsnapshot",
                        "permissions": [("view_statistics", "可查看统计报表")],
                        "indexes": [
                            models.Index(
                                fields=["region_code", "month"], name="stat_snapshot_region_idx"
                            )
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("month", "region_code"), name="stat_snapshot_unique"
                            ),
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("registered_urban__lte", models.F("registered_total")),
                                    ("resident_urban__lte", models.F("resident_total")),
                                ),
                                name="stat_snapshot_urban_le_total",
                            ),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="StatisticsDesk",
                    fields=[],
                    options={
                        "verbose_name": "城镇化统计",
                        "verbose_name_plural": "统计：城镇化率与报表下载",
                        "proxy": True,
                        "default_permissions": (),
                        "indexes": [],
                        "constraints": [],
                    },
                    bases=("statistics.statsnapshot",),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_forward, content_types_backward),
        migrations.RunPython(grant, migrations.RunPython.noop),
    ]
