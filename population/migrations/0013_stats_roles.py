from django.db import migrations

from population.roles import STATISTICIAN, SUPERVISOR, grant_permissions


# Not replayed after a flush: these permissions now belong to the statistics app, whose 0001
# keeps them and grants them again after a flush.
def grant(apps, schema_editor):
    grant_permissions(
        apps,
        schema_editor,
        {
            STATISTICIAN: ["population.view_statistics", "population.view_statsnapshot"],
            SUPERVISOR: ["population.view_statistics", "population.view_statsnapshot"],
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("population", "0012_stats_snapshot"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
