from django.apps import AppConfig


class RegistryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "registry"
    verbose_name = "户籍登记"

    def ready(self) -> None:
        import registry.jurisdiction  # noqa: F401  (area rules of the registry's models)
        from population.jurisdiction import PersonSource, person_source_hook
        from registry.jurisdiction import persons_in_open_households

        # A person is inside an area when their open household is (population cannot import
        # registry, so registry contributes this source).
        person_source_hook.register(
            PersonSource("registry.open_household", persons_in_open_households)
        )

        from population.demo import DemoLoader, demo_household_hook, demo_loader_hook
        from registry.demo import demo_households
        from registry.quality.demo import demo_quality_issues

        # The demo city's households and memberships are written by the registry.
        demo_household_hook.register(demo_households)
        demo_loader_hook.register(DemoLoader("quality", demo_quality_issues))

        from population.statistics.balance import BalanceSource, balance_source_hook
        from registry.selectors import registration_flows

        # The population balance counts the registration events (the SQL on the registry's
        # tables stays here).
        balance_source_hook.register(
            BalanceSource("registry.registration_events", registration_flows)
        )

        from population.sharing.scopes import ScopeCode, change_kind_hook
        from registry.models import EventKind

        # Every registration event, and a merge, reaches the department change feed.
        for kind in EventKind:
            change_kind_hook.register(ScopeCode(kind.value, kind.label))

        from population.audit_labels import PageLabel, page_label_hook

        # The access log names the registry's pages and prints.
        for page in (
            PageLabel("event", "登记事项", offered=("", "_list"), forms="登记事项表单"),
            PageLabel("household", "户页面"),
            PageLabel("household_autocomplete", "户查找（输入即查）"),
            PageLabel("household_print", "户口簿打印", offered=("", ".pdf")),
            PageLabel("person_merge", "重复人员合并页面"),
            PageLabel("person_merge_decide", "重复人员合并审批页面"),
            PageLabel("quality_issue", "数据质量问题页面"),
            PageLabel("print.register_form", "常住人口登记表打印", offered=("", ".pdf")),
            PageLabel("print.transfer_permit", "户口迁移证打印", offered=("", ".pdf")),
        ):
            page_label_hook.register(page)
