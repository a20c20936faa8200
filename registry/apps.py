from django.apps import AppConfig


class RegistryConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "registry"
    verbose_name = "户籍登记"

    def ready(self) -> None:
        import registry.jurisdiction  # noqa: F401  (area rules of the registry's models)
        from population.jurisdiction import jurisdiction_person_source
        from registry.jurisdiction import persons_in_open_households

        # A person is inside an area when their open household is (population cannot import
        # registry, so registry contributes this source).
        jurisdiction_person_source(persons_in_open_households)

        from population.demo import demo_loader_register
        from registry.quality.demo import demo_quality_issues

        demo_loader_register("quality", demo_quality_issues)

        from population.sharing.scopes import ScopeCode, change_kind_hook
        from registry.models import EventKind

        # Every registration event, and a merge, reaches the department change feed.
        for kind in EventKind:
            change_kind_hook.register(ScopeCode(kind.value, kind.label))
