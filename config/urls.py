from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

from population import security_keys, two_factor
from population.sharing.api.schema_view import SchemaView
from settlement.api import PrecheckView

admin.site.site_header = "人口基础信息库 popbase"
admin.site.site_title = "popbase"
admin.site.index_title = "户籍与人口信息管理"
# No public site behind the admin: no "view site" link in the header; "/" leads to the admin.
admin.site.site_url = None

# Chinese error pages in the admin's look instead of Django's bare English ones.
handler400 = "population.error_pages.bad_request"
handler403 = "population.error_pages.permission_denied"
handler404 = "population.error_pages.page_not_found"
handler500 = "population.error_pages.server_error"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    # Statistician dashboard and reports; before admin/ so the admin catch-all does not take it.
    path("admin/statistics/", include("population.statistics.urls")),
    # The second step of a staff login (population/two_factor.py), before the admin catch-all.
    path("admin/otp/verify/", two_factor.otp_verify, name="otp_verify"),
    path("admin/otp/setup/", two_factor.otp_setup, name="otp_setup"),
    # Security keys (population/security_keys.py): the account page, the page after a key was
    # added, and the WebAuthn ceremonies the library's scripts call.
    path("admin/otp/devices/", security_keys.otp_devices, name="otp_devices"),
    path(
        "admin/otp/security-key/enrolled/",
        security_keys.otp_key_enrolled,
        name="otp_key_enrolled",
    ),
    path("admin/otp/webauthn/", include((security_keys.urlpatterns, "otp_webauthn"))),
    path("admin/", admin.site.urls),
    path("api/v1/", include("population.sharing.api.urls")),
    # Department API endpoints of higher apps, on the same base (population imports none of them).
    path("api/v1/settlement/precheck", PrecheckView.as_view(), name="settlement_precheck"),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="schema", template_name="sharing/redoc.html"),
        name="api-redoc",
    ),
]

# Under /api/ even Django's own errors (unknown URL, body too large, a crash) are the API's
# JSON error shape; elsewhere Django's pages.
handler400 = "population.sharing.api.exception_handlers.handler400"
handler403 = "population.sharing.api.exception_handlers.handler403"
handler404 = "population.sharing.api.exception_handlers.handler404"
handler500 = "population.sharing.api.exception_handlers.handler500"

# Operation (ops/, docs/operations.md): component health for monitors and load balancers, and
# Prometheus metrics (allowed addresses or bearer token only).
from ops.health import HealthView  # noqa: E402
from ops.metrics import metrics_view  # noqa: E402

urlpatterns += [
    path("health/", HealthView.as_view(), name="health"),
    path("metrics", metrics_view, name="metrics"),
]
