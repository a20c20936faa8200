from django.apps import AppConfig


class ResidencePermitConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "residence_permit"
    verbose_name = "居住证"

    def ready(self) -> None:
        import residence_permit.jurisdiction  # noqa: F401  (area rules of its models)
        from registry.quality.services import MergeReferences, merge_references_hook
        from residence_permit.services import MERGE_KEPT_REFERENCES, permit_merge_guard

        merge_references_hook.register(
            MergeReferences(
                "residence_permit", kept=MERGE_KEPT_REFERENCES, guard=permit_merge_guard
            )
        )

        from population.sharing.facts import DerivedFact, derived_fact_hook
        from residence_permit.selectors import permit_valid_for

        derived_fact_hook.register(
            DerivedFact(
                "valid_residence_permit",
                "持有有效居住证",
                "holds a valid residence permit",
                evaluate=lambda person, params: permit_valid_for(person=person),
            )
        )

        from population.sharing.scopes import change_kind_hook
        from residence_permit.services import CHANGE_KINDS

        for kind in CHANGE_KINDS:
            change_kind_hook.register(kind)

        from population.statistics.extra import Figure, figure_hook
        from residence_permit.selectors import permits_active_at, permits_issued_in_month

        figure_hook.register(
            Figure(
                "permits_issued",
                "居住证签发数",
                "residence permits issued",
                permits_issued_in_month,
            )
        )
        figure_hook.register(
            Figure("permits_active", "有效居住证数", "residence permits active", permits_active_at)
        )

        from population.demo import DemoLoader, demo_loader_hook
        from residence_permit.demo import demo_permits_due

        demo_loader_hook.register(DemoLoader("residence_permit", demo_permits_due))

        from population.audit_labels import PageLabel, page_label_hook

        # The access log names the residence permit pages and the permit's print.
        for page in (
            PageLabel("residence_permit", "居住证页面", offered=("", "_list")),
            PageLabel("residence_permit_print", "居住证打印", offered=("", ".pdf")),
            PageLabel("residence_registration", "居住登记页面", offered=("", "_list")),
            PageLabel("permit_application", "居住证申领页面", offered=("", "_list")),
            PageLabel("permit_fact", "人员事实（居住证）页面"),
            PageLabel("points_entry", "积分记录页面"),
        ):
            page_label_hook.register(page)
