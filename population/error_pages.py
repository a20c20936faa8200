"""Chinese error pages in the admin's look (400, 403, 404, 500 and a refused CSRF token).

Django's defaults are bare English pages; an officer who follows a stale link or lacks a
permission gets these instead, with a way back to the admin index. The 500 page uses no
context processor and no database (the failure may be the database itself).
"""

from __future__ import annotations

import contextlib

from django.contrib import admin
from django.http import (
    HttpResponseBadRequest,
    HttpResponseForbidden,
    HttpResponseNotFound,
    HttpResponseServerError,
)
from django.template import loader


def _context(request) -> dict:
    context = {
        "site_header": admin.site.site_header,
        "site_title": admin.site.site_title,
        "site_url": admin.site.site_url,
    }
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        # An error page must render even when the admin's context cannot be built.
        with contextlib.suppress(Exception):
            context.update(admin.site.each_context(request))
    return context


def _render(request, template: str, **extra) -> str:
    return loader.get_template(template).render({**_context(request), **extra}, request)


def bad_request(request, exception=None):
    return HttpResponseBadRequest(_render(request, "400.html", title="请求有误"))


def permission_denied(request, exception=None):
    return HttpResponseForbidden(_render(request, "403.html", title="无权访问"))


def page_not_found(request, exception=None):
    return HttpResponseNotFound(_render(request, "404.html", title="页面不存在"))


def server_error(request):
    return HttpResponseServerError(loader.get_template("500.html").render({}))


def csrf_failure(request, reason: str = ""):
    return HttpResponseForbidden(_render(request, "403_csrf.html", title="表单已过期"))
