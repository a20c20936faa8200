"""The OpenAPI schema endpoint, one generation at a time per process.

drf-spectacular's schema generation keeps state in module-level singletons, so two requests
generating at once in one process (gunicorn threads, ASGI) can fail with errors such as
``'NoneType' object has no attribute 'startswith'`` (tfranzel/drf-spectacular#1123, #1368).
The schema is the same for every caller (``serve_public``), so requests wait for each other.
"""

from __future__ import annotations

import threading

from drf_spectacular.views import SpectacularAPIView


class SchemaView(SpectacularAPIView):
    _generation = threading.Lock()

    def _get_schema_response(self, request):
        with SchemaView._generation:
            return super()._get_schema_response(request)
