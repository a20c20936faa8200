from django.db import migrations

from population import roles
from population.replay import replay_after_flush

VIEW = ["population.view_region", "population.view_regionurbanrural", "population.view_countycode"]
PERSON_RW = [
    "population.view_person",
    "population.add_person",
    "population.change_person",
    "population.view_citizenidcorrection",
    "population.view_full_citizen_id",
]


@replay_after_flush
def create_roles(apps, schema_editor):
    roles.grant_permissions(
        apps,
        schema_editor,
        {
            roles.REGISTRATION_OFFICER: VIEW + PERSON_RW,
            roles.SUPERVISOR: VIEW + PERSON_RW,
            roles.STATISTICIAN: VIEW,
            roles.AUDITOR: VIEW
            + [
                "population.view_person",
                "population.view_citizenidcorrection",
                "population.view_full_citizen_id",
            ],
        },
    )


class Migration(migrations.Migration):
    dependencies = [
        ("population", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
