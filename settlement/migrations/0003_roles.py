from django.db import migrations

from population import roles
from population.replay import replay_after_flush

RW = [
    "settlement.view_ruleset",
    "settlement.view_application",
    "settlement.add_application",
    "settlement.change_application",
    "settlement.view_applicationmember",
    "settlement.view_applicationtransition",
]
R = [
    "settlement.view_ruleset",
    "settlement.view_application",
    "settlement.view_applicationmember",
    "settlement.view_applicationtransition",
]


@replay_after_flush
def grant(apps, schema_editor):
    roles.grant_permissions(
        apps,
        schema_editor,
        {
            roles.REGISTRATION_OFFICER: RW,
            # Approving is the supervisor's: the acceptor (an officer) cannot decide alone.
            roles.SUPERVISOR: [*RW, "settlement.decide_application"],
            roles.STATISTICIAN: ["settlement.view_ruleset"],
            roles.AUDITOR: R,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("settlement", "0002_rules"), ("population", "0002_roles")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
