"""The department sync's models leave this app's state for their own app, ``sync``
(``population.sync``, whose ``0001_initial`` took them over with their tables and triggers).

Nothing changes in the tables. Their content types move to the app label ``sync`` in place, so
every permission (``sync.view_fact``, ``sync.requeue_batch`` ...) keeps its id and every group
and user holding it keeps it.
"""

from django.db import migrations

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


def _content_types_move(apps, from_label: str, to_label: str) -> None:
    content_type_model = apps.get_model("contenttypes", "ContentType")
    permission_model = apps.get_model("auth", "Permission")
    for model in MOVED:
        moving = content_type_model.objects.filter(app_label=from_label, model=model).first()
        if moving is None:
            continue  # a database whose content types were never created (created later)
        already = content_type_model.objects.filter(app_label=to_label, model=model).first()
        if already is not None:
            # Created meanwhile (permissions created for the new label before this ran): its
            # permissions' holders move to the kept ones of the same codename, then it goes.
            for permission in permission_model.objects.filter(content_type=already):
                kept = permission_model.objects.filter(
                    content_type=moving, codename=permission.codename
                ).first()
                if kept is not None:
                    kept.group_set.add(*permission.group_set.all())
                    kept.user_set.add(*permission.user_set.all())
                    permission.delete()
                else:
                    permission.content_type = moving
                    permission.save(update_fields=["content_type"])
            already.delete()
        moving.app_label = to_label
        moving.save(update_fields=["app_label"])


def content_types_to_sync(apps, schema_editor):
    _content_types_move(apps, "population", "sync")


def content_types_to_population(apps, schema_editor):
    _content_types_move(apps, "sync", "population")


class Migration(migrations.Migration):
    dependencies = [
        ("population", "0034_sharing_models_to_own_app"),
        ("sync", "0001_initial"),
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
