"""The history event tables (django-pghistory: persons, households, memberships, department facts,
permits, applications ...) become range-partitioned by month on ``pgh_created_at``
(population/partitions.py), every row copied and counted in this migration's transaction; the
primary key in the database becomes (pgh_id, pgh_created_at), Django's state is unchanged.
"""

from django.db import migrations

from population import partitions

TABLES = [
    "population_personevent",
    "population_factevent",
    "population_followupevent",
    "registry_householdevent",
    "registry_membershipevent",
    "registry_correctionevent",
    "registry_qualityissueevent",
    "registry_personmergeevent",
    "residence_permit_residenceregistrationevent",
    "residence_permit_personfactevent",
    "residence_permit_permitapplicationevent",
    "residence_permit_residencepermitevent",
    "settlement_applicationevent",
    "settlement_applicationmemberevent",
]


def partition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            partitions.table_partition_by_month(cursor, table, "pgh_created_at")


def unpartition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            partitions.table_unpartition(cursor, table, pk=["pgh_id"])


class Migration(migrations.Migration):
    dependencies = [
        ("population", "0027_audit_archive"),
        ("registry", "0012_correction"),
        ("residence_permit", "0006_application_eligible_now"),
        ("settlement", "0004_rules_reread"),
    ]

    operations = [migrations.RunPython(partition, unpartition, elidable=False)]
