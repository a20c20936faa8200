"""Moving models from one app to another in Django's state only: their content types follow.

A model moved with ``SeparateDatabaseAndState`` keeps its table; its ``django_content_type`` row
must take the new app label in place, so that every permission on it (and every group and user
holding one) and every admin log entry about it is kept. The migrations that move the sharing
API's, the department sync's and the statistics' models call ``content_types_move``.
"""

from __future__ import annotations

from collections.abc import Iterable


def content_types_move(
    apps, schema_editor, models: Iterable[str], source: str, target: str
) -> None:
    """Relabel the content types of ``models`` from ``source`` to ``target``, keeping their ids.

    Where a row for ``target`` exists already (permissions created for the new label before the
    move ran), the moved row stays: the other row's permissions give way to the moved ones of the
    same codename (whoever held them keeps the right), its admin log entries point to the moved
    row, and it is deleted.
    """
    db = schema_editor.connection.alias
    types = apps.get_model("contenttypes", "ContentType").objects.using(db)
    permissions = apps.get_model("auth", "Permission").objects.using(db)
    log_entries = apps.get_model("admin", "LogEntry").objects.using(db)
    for model in models:
        moved = types.filter(app_label=source, model=model).first()
        if moved is None:
            continue  # content types are created after migrating; a new database has none yet
        taken = types.filter(app_label=target, model=model).first()
        if taken is not None:
            for permission in permissions.filter(content_type=taken):
                kept = permissions.filter(content_type=moved, codename=permission.codename).first()
                if kept is None:
                    permission.content_type = moved
                    permission.save(update_fields=["content_type"])
                    continue
                for group in permission.group_set.all():
                    group.permissions.add(kept)
                for user in permission.user_set.all():
                    user.user_permissions.add(kept)
                permission.delete()
            log_entries.filter(content_type=taken).update(content_type=moved)
            taken.delete()
        moved.app_label = target
        moved.save(update_fields=["app_label"])
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()
