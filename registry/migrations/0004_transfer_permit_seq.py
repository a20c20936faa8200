from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_registration_events")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE IF NOT EXISTS registry_transfer_permit_seq",
            "DROP SEQUENCE IF EXISTS registry_transfer_permit_seq",
        ),
    ]
