from django.apps import AppConfig


class SharingConfig(AppConfig):
    """The department data-sharing API: clients, keys, stored write answers, the API views.

    Its tables kept the names they had when they belonged to the population app
    (``population_apiclient`` …): the move was a state-only migration, no row was copied.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "population.sharing"
    label = "sharing"
    verbose_name = "数据共享"

    def ready(self) -> None:
        from population.sharing.facts import OWN_FACTS, derived_fact_hook
        from population.sharing.scopes import (
            Endpoint,
            ScopeCode,
            change_kind_hook,
            endpoint_hook,
        )

        for value, label in Endpoint.choices:
            endpoint_hook.register(ScopeCode(value, label))
        # The one change the population app records itself (population.services).
        change_kind_hook.register(ScopeCode("id_correction", "身份号码更正"))
        for fact in OWN_FACTS:
            derived_fact_hook.register(fact)

        from population.audit_labels import (
            FieldPrefix,
            Label,
            channel_label_hook,
            field_prefix_hook,
            purpose_label_hook,
        )
        from population.sharing.facts import fact_field_label
        from population.sharing.scopes import Purpose

        # The access log names the API's channels, the facts asked about and the purposes.
        for channel, label in (
            ("api.changes", "共享接口：变更订阅"),
            ("api.facts", "共享接口：事实核验"),
            ("api.feeds", "共享接口：数据推送"),
            ("api.persons", "共享接口：人员查询"),
            ("api.person_reads", "共享接口：查阅记录查询"),
            ("api.statistics", "共享接口：统计数据"),
            ("api.verifications", "共享接口：身份核验"),
        ):
            channel_label_hook.register(Label(channel, label))
        field_prefix_hook.register(FieldPrefix("fact:", fact_field_label))
        for value, label in Purpose.choices:
            purpose_label_hook.register(Label(value, label))
