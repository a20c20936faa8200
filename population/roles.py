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
            app_label, codename = perm.split(".")
            group.permissions.add(
                permission_model.objects.get(content_type__app_label=app_label, codename=codename)
            )
