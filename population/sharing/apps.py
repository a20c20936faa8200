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
