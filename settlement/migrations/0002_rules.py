from django.db import migrations

from population.replay import replay_after_flush


@replay_after_flush
def load(apps, schema_editor):
    from settlement.rules import rulesets_load_shipped

    rulesets_load_shipped(model=apps.get_model("settlement", "RuleSet"))


class Migration(migrations.Migration):
    dependencies = [("settlement", "0001_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
