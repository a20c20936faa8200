from django.db import migrations

from population import roles
from population.replay import replay_after_flush

HOUSEHOLD_RW = [
    "registry.view_household",
    "registry.add_household",
    "registry.change_household",
    "registry.view_membership",
    "registry.add_membership",
    "registry.change_membership",
]
HOUSEHOLD_R = ["registry.view_household", "registry.view_membership"]


@replay_after_flush
def grant(apps, schema_editor):
    roles.grant_permissions(
        apps,
        schema_editor,
        {
            roles.REGISTRATION_OFFICER: HOUSEHOLD_RW,
            roles.SUPERVISOR: HOUSEHOLD_RW,
            roles.AUDITOR: HOUSEHOLD_R,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial"), ("population", "0002_roles")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
