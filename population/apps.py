from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PopulationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "population"
    verbose_name = "人口基础信息"

    def ready(self) -> None:
        import population.checks  # system checks: admins of personal data are scoped
        import population.jurisdiction  # noqa: F401  (area rules of the base library's models)
        from population import (
            admin_links,
            two_factor,  # noqa: F401  (its login receiver: second factor owed?)
        )
        from population.audit import truncate_guard_install
        from population.db_roles import runtime_grants_apply
        from population.permission_names import permission_names_translate
        from population.replay import replay_on_flush

        # Read-only foreign keys link only where the reader may go.
        admin_links.install()
        # Once per flush (sent for each app; this app's turn), after the tables are emptied.
        post_migrate.connect(replay_on_flush, sender=self, dispatch_uid="population.replay")
        # Django's built-in permissions named in Chinese (after each app's are created).
        post_migrate.connect(permission_names_translate, dispatch_uid="population.permission_names")
        # Every append-only table refuses TRUNCATE (which fires no DELETE trigger).
        post_migrate.connect(
            truncate_guard_install, sender=self, dispatch_uid="population.truncate_guard"
        )
        # Migrations run as the owner: the runtime role gets the new tables' grants.
        post_migrate.connect(
            runtime_grants_apply, sender=self, dispatch_uid="population.runtime_grants"
        )
