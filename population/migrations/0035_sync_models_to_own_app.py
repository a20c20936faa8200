"""The department sync's models leave this app's state for their own app, ``sync``
(``population.sync``, whose ``0001_initial`` took them over with their tables and triggers).

Nothing changes in the tables. Their content types move to the app label ``sync`` in place, so
every permission (``sync.view_fact``, ``sync.requeue_batch`` ...) keeps its id and every group
and user holding it keeps it.
"""

from django.db import migrations

from population.app_moves import content_types_move

MOVED = [
    "batch",
    "batchevent",
    "batchhistory",
    "fact",
    "factevent",
    "followup",
    "followupevent",
    "rejectedrow",
]


def content_types_to_sync(apps, schema_editor):
    content_types_move(apps, schema_editor, MOVED, "population", "sync")


def content_types_to_population(apps, schema_editor):
    content_types_move(apps, schema_editor, MOVED, "sync", "population")


class Migration(migrations.Migration):
    dependencies = [
        ("population", "0034_sharing_models_to_own_app"),
        ("sync", "0001_initial"),
        ("admin", "0003_logentry_add_action_flag_choices"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name="followup",
                    name="batch",
                ),
                migrations.RemoveField(
                    model_name="followupevent",
                    name="batch",
                ),
                migrations.RemoveField(
                    model_name="fact",
                    name="batch",
                ),
                migrations.RemoveField(
                    model_name="batchhistory",
                    name="pgh_obj",
                ),
                migrations.RemoveField(
                    model_name="factevent",
                    name="batch",
                ),
                migrations.RemoveField(
                    model_name="batchevent",
                    name="batch",
                ),
                migrations.RemoveField(
                    model_name="rejectedrow",
                    name="batch",
                ),
                migrations.RemoveField(
                    model_name="batchevent",
                    name="actor",
                ),
                migrations.RemoveField(
                    model_name="batchhistory",
                    name="pgh_context",
                ),
                migrations.RemoveField(
                    model_name="fact",
                    name="counterpart",
                ),
                migrations.RemoveField(
                    model_name="fact",
                    name="person",
                ),
                migrations.RemoveField(
                    model_name="followup",
                    name="fact",
                ),
                migrations.RemoveField(
                    model_name="followupevent",
                    name="fact",
                ),
                migrations.RemoveField(
                    model_name="factevent",
                    name="pgh_obj",
                ),
                migrations.RemoveField(
                    model_name="factevent",
                    name="counterpart",
                ),
                migrations.RemoveField(
                    model_name="factevent",
                    name="person",
                ),
                migrations.RemoveField(
                    model_name="factevent",
                    name="pgh_context",
                ),
                migrations.RemoveField(
                    model_name="followup",
                    name="closed_by",
                ),
                migrations.RemoveField(
                    model_name="followup",
                    name="person",
                ),
                migrations.RemoveField(
                    model_name="followupevent",
                    name="pgh_obj",
                ),
                migrations.RemoveField(
                    model_name="followupevent",
                    name="closed_by",
                ),
                migrations.RemoveField(
                    model_name="followupevent",
                    name="person",
                ),
                migrations.RemoveField(
                    model_name="followupevent",
                    name="pgh_context",
                ),
                migrations.DeleteModel(
                    name="Batch",
                ),
                migrations.DeleteModel(
                    name="RejectedRow",
                ),
                migrations.DeleteModel(
                    name="BatchEvent",
                ),
                migrations.DeleteModel(
                    name="BatchHistory",
                ),
                migrations.DeleteModel(
                    name="Fact",
                ),
                migrations.DeleteModel(
                    name="FactEvent",
                ),
                migrations.DeleteModel(
                    name="FollowUp",
                ),
                migrations.DeleteModel(
                    name="FollowUpEvent",
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_to_sync, content_types_to_population, elidable=False),
    ]
