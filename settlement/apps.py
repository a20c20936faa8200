from django.apps import AppConfig


class SettlementConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "settlement"
    verbose_name = "落户"

    def ready(self) -> None:
        import settlement.jurisdiction  # noqa: F401  (area rules of its models)
        from registry.quality.services import MergeReferences, merge_references_hook
        from settlement.services import MERGE_KEPT_REFERENCES, settlement_merge_guard

        merge_references_hook.register(
            MergeReferences("settlement", kept=MERGE_KEPT_REFERENCES, guard=settlement_merge_guard)
        )

        from population.sharing.scopes import ScopeCode, change_kind_hook, endpoint_hook
        from settlement.api import PRECHECK_ENDPOINT

        endpoint_hook.register(PRECHECK_ENDPOINT)
        change_kind_hook.register(ScopeCode("settlement", "落户"))

        from population.statistics.extra import Figure, figure_hook
        from settlement.selectors import settlements_by_channel_named

        figure_hook.register(
            Figure(
                "settlements_by_channel",
                "分渠道落户数",
                "settlements by channel",
                settlements_by_channel_named,
            )
        )

        from population.demo import DemoLoader, demo_loader_hook
        from settlement.demo import settlement_demo_load

        demo_loader_hook.register(DemoLoader("落户", settlement_demo_load))

        from population.audit_labels import Label, PageLabel, channel_label_hook, page_label_hook

        # The access log names the applications' pages, the certificate's print and the API's
        # precheck endpoint.
        page_label_hook.register(PageLabel("settlement", "落户申请页面", offered=("", "_list")))
        page_label_hook.register(
            PageLabel("print.admission_certificate", "准予迁入证明打印", offered=("", ".pdf"))
        )
        channel_label_hook.register(Label("api.settlement_precheck", "共享接口：落户预审"))
