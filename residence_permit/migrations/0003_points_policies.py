from django.db import migrations

from population.replay import replay_after_flush


@replay_after_flush
def load(apps, schema_editor):
    from residence_permit.points import policies_load_shipped

    policies_load_shipped(model=apps.get_model("residence_permit", "PointsPolicy"))


class Migration(migrations.Migration):
    dependencies = [("residence_permit", "0002_roles")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
