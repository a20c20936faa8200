"""The shipped rule sets re-read clause by clause (``reading`` 2): quoted clause text beside
every channel and the misreadings corrected. The stored rows of those versions take the new
content (``ruleset_store`` allows only a higher reading of the same document to do so)."""

from django.db import migrations

from population.replay import replay_after_flush


@replay_after_flush
def load(apps, schema_editor):
    from settlement.rules import rulesets_load_shipped

    rulesets_load_shipped(model=apps.get_model("settlement", "RuleSet"))


class Migration(migrations.Migration):
    dependencies = [("settlement", "0003_roles")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
