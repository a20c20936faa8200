from django.db import migrations

# Feed batches are staged in UNLOGGED tables that live from one worker step to the next
# (population/sync/pipeline.py). They go into a schema of their own where the runtime role may
# create tables (population/db_roles.py), so it needs no CREATE on the public schema.
SCHEMA = "popbase_stage"


class Migration(migrations.Migration):
    dependencies = [("population", "0029_batch_lease")]

    operations = [
        migrations.RunSQL(
            f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
            f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE",
        ),
    ]
