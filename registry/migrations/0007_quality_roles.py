from django.db import migrations

from population import roles
from population.replay import replay_after_flush

REVIEW = [
    "registry.view_qualityissue",
    "registry.change_qualityissue",
    "registry.view_qualityrun",
    "registry.view_personmerge",
    "registry.add_personmerge",
]
READ = ["registry.view_qualityissue", "registry.view_qualityrun", "registry.view_personmerge"]
FIGURES = ["registry.view_quality_figures"]


@replay_after_flush
def grant(apps, schema_editor):
    roles.grant_permissions(
        apps,
        schema_editor,
        {
            roles.REGISTRATION_OFFICER: REVIEW,
            # Supervisors approve merges (a proposal needs a second person: four eyes).
            roles.SUPERVISOR: [*REVIEW, "registry.approve_personmerge", *FIGURES],
            roles.AUDITOR: [*READ, *FIGURES],
            roles.STATISTICIAN: FIGURES,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("registry", "0006_quality"), ("population", "0002_roles")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
