from django.db import migrations

from population import roles
from population.replay import replay_after_flush


@replay_after_flush
def grant(apps, schema_editor):
    # Correcting a citizen ID is a supervisor's decision, not a counter officer's.
    roles.grant_permissions(
        apps, schema_editor, {roles.SUPERVISOR: ["population.add_citizenidcorrection"]}
    )


class Migration(migrations.Migration):
    dependencies = [("population", "0002_roles")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
