"""Staff roles, created as auth groups by migrations.

Each app's migration grants its own permissions to these groups (``grant_permissions``), so the
dependency direction between apps stays one-way.
"""

from __future__ import annotations

REGISTRATION_OFFICER = "户籍民警"  # registration officer
SUPERVISOR = "户籍主管"  # supervisor
STATISTICIAN = "统计人员"  # statistician
AUDITOR = "审计人员"  # auditor

ALL_ROLES = (REGISTRATION_OFFICER, SUPERVISOR, STATISTICIAN, AUDITOR)

# Roles whose work needs the full citizen ID (others see it masked).
FULL_ID_ROLES = (REGISTRATION_OFFICER, SUPERVISOR, AUDITOR)

# Permissions of models that moved to an app of their own: the same rows, their content type
# relabelled by the move (population.0035_sync_models_to_own_app). Migrations written before the
# move grant them by the old name; once the move ran (a replay after a flush) they are found by
# the new one.
MOVED_PERMISSIONS = {
    "population.view_batch": "sync.view_batch",
    "population.requeue_batch": "sync.requeue_batch",
    "population.view_fact": "sync.view_fact",
    "population.view_followup": "sync.view_followup",
    "population.change_followup": "sync.change_followup",
}


def grant_permissions(apps, schema_editor, grants: dict[str, list[str]]) -> None:
    """Give each role (group name) the listed ``app_label.codename`` permissions.

    Runs inside a migration: model permissions normally appear only after ``post_migrate``,
    so they are created here first.
    """
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        # create_permissions skips apps without a models module, which historical app configs
        # lack; the live registry (a replay after a flush) keeps its own.
        previous = getattr(app_config, "models_module", None)
        app_config.models_module = previous or True
        try:
            create_permissions(app_config, apps=apps, verbosity=0)
        finally:
            app_config.models_module = previous

    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for role, perms in grants.items():
        group, _ = group_model.objects.get_or_create(name=role)
        for perm in perms:
            group.permissions.add(_permission(permission_model, perm))


def _permission(permission_model, perm: str):
    app_label, codename = perm.split(".")
    found = permission_model.objects.filter(
        content_type__app_label=app_label, codename=codename
    ).first()
    if found is None and perm in MOVED_PERMISSIONS:
        return _permission(permission_model, MOVED_PERMISSIONS[perm])
    if found is None:
        raise permission_model.DoesNotExist(f"no permission {perm}")
    return found
