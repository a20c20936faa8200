from django.apps import AppConfig


class SyncConfig(AppConfig):
    """Department data sync (部门数据同步): feed batches, department facts and follow-ups.

    Its tables kept the names they had inside the ``population`` app (``population_batch``,
    ``population_fact`` ...): the models moved to this app in Django's state only.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "population.sync"
    label = "sync"
    verbose_name = "部门数据同步"

    def ready(self) -> None:
        import population.sync.jurisdiction  # noqa: F401  (area rules of its models)
