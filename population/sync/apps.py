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
        from population.audit_labels import PageLabel, page_label_hook

        # The access log names the sync admin's pages (the lists, and the rejected rows).
        for page in (
            PageLabel("sync_fact", "部门登记事实", offered=("_list",)),
            PageLabel("sync_followup", "待办事项（部门数据）", offered=("_list",)),
            PageLabel("sync_rejected_rows", "部门数据拒收行"),
        ):
            page_label_hook.register(page)
