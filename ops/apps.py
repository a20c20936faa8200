from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running popbase in production: health, metrics, logs and backups (docs/operations.md)."""

    name = "ops"
    verbose_name = "运行维护"

    def ready(self):
        from ops import signals  # noqa: F401  (connects the task-failure recorder)
