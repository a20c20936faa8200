"""The statistics models leave ``population`` for their own app (``statistics``), in Django's
state only: the table ``population_statsnapshot`` stays as it is, no row is copied.
``statistics`` 0001 takes the models over under the same table name, and its 0002 moves the
content types (so the permissions and the groups holding them are kept)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("population", "0032_change_feed_monthly_partitions"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="StatisticsDesk"),
                migrations.DeleteModel(name="StatSnapshot"),
            ],
            database_operations=[],
        ),
    ]
