from django.apps import AppConfig


class ResidencePermitConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "residence_permit"
    verbose_name = "居住证"

    def ready(self) -> None:
        from registry.quality.services import merge_references_declare
        from residence_permit.services import MERGE_KEPT_REFERENCES, permit_merge_guard

        merge_references_declare(kept=MERGE_KEPT_REFERENCES, guard=permit_merge_guard)
