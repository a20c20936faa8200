"""The access log and its per-person index become range-partitioned by month (population/partitions.py).

Every row is copied into the partitioned table and counted before the old table is dropped, all
in this migration's transaction (writers wait for it: on a large log that takes minutes). The
primary keys in the database become (id, at) and stay (person_id, at, log_id); Django's state is
unchanged (``AccessLog`` keeps ``id`` as its primary key: ids still come from one sequence).
"""

from django.db import migrations

from population import partitions

TABLES = {
    "population_accesslog": ["id"],
    "population_accesslogperson": ["person_id", "at", "log_id"],
}


def partition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            partitions.table_partition_by_month(cursor, table, "at")


def unpartition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for table, pk in TABLES.items():
            partitions.table_unpartition(cursor, table, pk=pk)


class Migration(migrations.Migration):
    dependencies = [
        ("population", "0025_inbox_schedule_names_in_chinese"),
    ]

    operations = [migrations.RunPython(partition, unpartition, elidable=False)]
