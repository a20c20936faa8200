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
        from population.sharing.facts import OWN_FACTS, fact_hook
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
            fact_hook.register(fact)
