from django.contrib import admin
from django.urls import path

from population.statistics import views

urlpatterns = [
    path("", admin.site.admin_view(views.dashboard), name="stats_dashboard"),
    path(
        "export.<str:fmt>",
        admin.site.admin_view(views.export),
        name="stats_export",
    ),
]
