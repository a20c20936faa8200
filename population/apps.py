from django.apps import AppConfig


class PopulationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "population"
    verbose_name = "人口基础信息"
