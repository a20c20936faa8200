from django.db import migrations

from population import roles


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
        ("registry", "0004_transfer_permit_seq"),
        ("population", "0006_jurisdiction_roles"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
