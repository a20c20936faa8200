from django.apps import AppConfig


class ResidencePermitConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "residence_permit"
    verbose_name = "居住证"
