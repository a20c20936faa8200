"""The shipped rule sets read from observable facts (``reading`` 3): property, rental,
insurance and employment records, military status, and zones derived from region codes by the
rule set's own zone table (清远 and 临沧 gain theirs). The stored rows of those versions take
the new content (``ruleset_store`` allows only a higher reading of the same document to do so)."""

from django.db import migrations

from population.replay import replay_after_flush


@replay_after_flush
def load(apps, schema_editor):
    from settlement.rules import rulesets_load_shipped

    rulesets_load_shipped(model=apps.get_model("settlement", "RuleSet"))


class Migration(migrations.Migration):
    dependencies = [("settlement", "0004_rules_reread")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
