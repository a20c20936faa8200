from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PopulationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "population"
    verbose_name = "人口基础信息"

    def ready(self) -> None:
        from population.audit import truncate_guard_install
        from population.replay import replay_on_flush

        # Once per flush (sent for each app; this app's turn), after the tables are emptied.
        post_migrate.connect(replay_on_flush, sender=self, dispatch_uid="population.replay")
        # Every append-only table refuses TRUNCATE (which fires no DELETE trigger).
        post_migrate.connect(
            truncate_guard_install, sender=self, dispatch_uid="population.truncate_guard"
        )
