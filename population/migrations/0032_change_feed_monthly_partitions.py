"""The change feed outbox becomes range-partitioned by month on ``recorded_at``
(population/partitions.py), every row copied and counted in this migration's transaction; the
primary key in the database becomes (id, recorded_at), Django's state keeps ``id``.

From now on ``change_record`` sets ``recorded_at`` under the feed's lock, never earlier than the
feed's newest row, so it rises with the id. The rows recorded before this migration need not
(their time came from the writer's clock): ``ChangeFeedMonth`` is filled here with, for every
month they span, the greatest id recorded before that month, which is exact whatever their
order, so a cursor handed out before the migration still reads exactly the rows after it.
"""

import django.utils.timezone
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

from population import partitions

TABLE = "population_changeevent"


def partition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        partitions.table_partition_by_month(cursor, TABLE, "recorded_at")
        # For each month M the changes span: every change with an id above the greatest id
        # recorded before M is recorded in M or later (0 when none was).
        cursor.execute(
            f"""
            INSERT INTO population_changefeedmonth (month, after_id)
            SELECT month, coalesce(max(last_id) OVER (
                ORDER BY month ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
            FROM (SELECT date_trunc('month', recorded_at AT TIME ZONE 'UTC')::date AS month,
                         max(id) AS last_id
                  FROM {TABLE} GROUP BY 1) m
            """  # noqa: S608 (a constant table name)
        )


def unpartition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        partitions.table_unpartition(cursor, TABLE, pk=["id"])


class Migration(migrations.Migration):
    dependencies = [
        ("population", "0031_analyze_facts_function"),
    ]

    operations = [
        migrations.CreateModel(
            name="ChangeFeedMonth",
            fields=[
                (
                    "month",
                    models.DateField(
                        help_text="该月1日（UTC）",
                        primary_key=True,
                        serialize=False,
                        verbose_name="月份",
                    ),
                ),
                (
                    "after_id",
                    models.BigIntegerField(
                        help_text="序号大于此值的变更都记录于该月或之后",
                        verbose_name="此前最后变更序号",
                    ),
                ),
            ],
            options={
                "verbose_name": "变更订阅月份起点",
                "verbose_name_plural": "变更订阅月份起点",
            },
        ),
        migrations.AlterField(
            model_name="changeevent",
            name="recorded_at",
            field=models.DateTimeField(
                default=django.utils.timezone.now, editable=False, verbose_name="记录时间"
            ),
        ),
        migrations.AddIndex(
            model_name="changeevent",
            index=models.Index(fields=["recorded_at"], name="changeevent_recorded_at_idx"),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="changefeedmonth",
            trigger=pgtrigger.compiler.Trigger(
                name="append_only",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;",
                    hash="9c4bb73a4a88cc26dd873a7c6f6662d059ccddd4",
                    operation="UPDATE OR DELETE",
                    pgid="pgtrigger_append_only_d045b",
                    table="population_changefeedmonth",
                    when="BEFORE",
                ),
            ),
        ),
        migrations.RunPython(partition, unpartition, elidable=False),
    ]
