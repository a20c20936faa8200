from django.apps import AppConfig


class StatisticsConfig(AppConfig):
    """Urbanization statistics: month-end snapshots, the dashboard, reports and the balance.

    Its tables kept the names they had inside ``population`` (``population_statsnapshot``):
    the models moved into this app in Django's state only (statistics 0001).
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "population.statistics"
    label = "statistics"
    verbose_name = "人口统计"

    def ready(self) -> None:
        from population.demo import DemoLoader, demo_loader_hook
        from population.statistics.services import snapshot_demo_months

        # Last, so the snapshots count what the other apps' demo loaders added.
        demo_loader_hook.register(DemoLoader("stats", snapshot_demo_months, last=True))

        from population.audit_labels import Label, channel_label_hook

        channel_label_hook.register(Label("command.stats_balance", "命令：户籍人口平衡表"))
