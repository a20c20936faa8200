from django.db import migrations

# Only a table's owner may ANALYZE it (before PostgreSQL 17's MAINTAIN privilege); the runtime
# role would get a warning and stale statistics after a big load. The owner's function analyzes
# the facts table and nothing else.
ANALYZE_FACTS = """
CREATE OR REPLACE FUNCTION popbase_analyze_facts() RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS 'ANALYZE public.population_fact'
"""


class Migration(migrations.Migration):
    dependencies = [("population", "0030_sync_stage_schema")]

    operations = [
        migrations.RunSQL(ANALYZE_FACTS, "DROP FUNCTION IF EXISTS popbase_analyze_facts()"),
    ]
