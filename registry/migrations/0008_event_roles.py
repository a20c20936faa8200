from django.db import migrations

from population import roles
from population.replay import replay_after_flush


@replay_after_flush
def grant(apps, schema_editor):
    # add_registrationevent: may carry out registration events (births, moves, splits...).
    roles.grant_permissions(
        apps,
        schema_editor,
        {
            roles.REGISTRATION_OFFICER: [
                "registry.view_registrationevent",
                "registry.add_registrationevent",
            ],
            roles.SUPERVISOR: ["registry.view_registrationevent", "registry.add_registrationevent"],
            roles.AUDITOR: ["registry.view_registrationevent"],
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0007_quality_roles"),
        ("population", "0008_jurisdiction_roles"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
