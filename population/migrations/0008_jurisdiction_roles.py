from django.db import migrations

from population import roles
from population.replay import replay_after_flush


@replay_after_flush
def grant(apps, schema_editor):
    roles.grant_permissions(
        apps,
        schema_editor,
        {
            roles.REGISTRATION_OFFICER: ["population.add_breakglassgrant"],
            roles.SUPERVISOR: [
                "population.add_breakglassgrant",
                "population.view_breakglassgrant",
                "population.view_officerregion",
            ],
            roles.AUDITOR: ["population.view_breakglassgrant", "population.view_officerregion"],
        },
    )


class Migration(migrations.Migration):
    dependencies = [("population", "0007_jurisdiction")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
