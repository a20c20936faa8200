from django.db import migrations

from population import roles
from population.replay import replay_after_flush

PERMIT_RW = [
    "residence_permit.view_residenceregistration",
    "residence_permit.add_residenceregistration",
    "residence_permit.change_residenceregistration",
    "residence_permit.view_personfact",
    "residence_permit.add_personfact",
    "residence_permit.change_personfact",
    "residence_permit.view_permitapplication",
    "residence_permit.add_permitapplication",
    "residence_permit.change_permitapplication",
    "residence_permit.view_residencepermit",
    "residence_permit.change_residencepermit",
    "residence_permit.print_residencepermit",
    "residence_permit.view_permitevent",
    "residence_permit.view_pointspolicy",
    "residence_permit.view_pointsentry",
    "residence_permit.add_pointsentry",
]
PERMIT_R = [
    "residence_permit.view_residenceregistration",
    "residence_permit.view_personfact",
    "residence_permit.view_permitapplication",
    "residence_permit.view_residencepermit",
    "residence_permit.view_permitevent",
    "residence_permit.view_pointspolicy",
    "residence_permit.view_pointsentry",
]


@replay_after_flush
def grant(apps, schema_editor):
    roles.grant_permissions(
        apps,
        schema_editor,
        {
            roles.REGISTRATION_OFFICER: PERMIT_RW,
            roles.SUPERVISOR: PERMIT_RW,
            roles.AUDITOR: PERMIT_R,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("residence_permit", "0001_initial"), ("population", "0002_roles")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
