"""The sharing API's models leave the population app's state for their own app (``sharing``).

State only: the tables, their rows, constraints and triggers stay as they are;
``sharing/migrations/0001_initial.py`` takes the models over under the same table names and moves
their content types (and so every permission granted on them).
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("population", "0033_statistics_models_to_own_app"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="idempotencyrecord", name="client"),
                migrations.DeleteModel(name="ApiKey"),
                migrations.DeleteModel(name="ApiClient"),
                migrations.DeleteModel(name="IdempotencyRecord"),
            ],
            database_operations=[],
        ),
    ]
