from django.db import migrations


class Migration(migrations.Migration):
    """Room on every page of department facts for a changed version of its rows.

    A feed's changed rows (a monthly social-insurance file changes about a third) then update
    in place on the same page (heap-only tuples): none of the fact's three indexes gets a new
    entry, and the old versions are pruned page by page. See docs/feeds.md, Speed.
    """

    dependencies = [
        ("population", "0023_access_log_narrow_chain"),
    ]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE population_fact SET (fillfactor = 80)",
            "ALTER TABLE population_fact RESET (fillfactor)",
        ),
    ]
