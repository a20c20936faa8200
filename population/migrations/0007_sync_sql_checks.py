"""SQL functions for the set-based row checks of department feeds (never raise on any input).

They mirror the per-row checks in population/sync/parsing.py: a row they pass is one the Python
checks pass too; a row they fail is judged again in Python, which gives the precise reason.
"""

from django.db import migrations

ISO_DATE_OK = r"""
CREATE OR REPLACE FUNCTION popbase_iso_date_ok(t text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN t ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN
    CASE WHEN substr(t, 1, 4)::int >= 1 AND substr(t, 6, 2)::int BETWEEN 1 AND 12 THEN
        substr(t, 9, 2)::int BETWEEN 1 AND extract(day FROM
            make_date(substr(t, 1, 4)::int, substr(t, 6, 2)::int, 1)
            + interval '1 month' - interval '1 day')::int
    ELSE false END
ELSE false END
$$;
"""

WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_SUM = " + ".join(f"substr(c, {i + 1}, 1)::int * {w}" for i, w in enumerate(WEIGHTS))
CITIZEN_ID_OK = f"""
CREATE OR REPLACE FUNCTION popbase_citizen_id_ok(c text, today date) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN c ~ '^[0-9]{{17}}[0-9X]$' THEN
    CASE WHEN substr('10X98765432', ({_SUM}) % 11 + 1, 1) = substr(c, 18, 1)
          AND popbase_iso_date_ok(
              substr(c, 7, 4) || '-' || substr(c, 11, 2) || '-' || substr(c, 13, 2))
    THEN (substr(c, 7, 4) || '-' || substr(c, 11, 2) || '-' || substr(c, 13, 2))::date <= today
    ELSE false END
ELSE false END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("population", "0006_sync_schedules_and_roles")]

    operations = [
        migrations.RunSQL(ISO_DATE_OK, "DROP FUNCTION IF EXISTS popbase_iso_date_ok(text)"),
        migrations.RunSQL(
            CITIZEN_ID_OK, "DROP FUNCTION IF EXISTS popbase_citizen_id_ok(text, date)"
        ),
    ]
