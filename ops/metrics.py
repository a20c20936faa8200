"""Prometheus metrics at ``/metrics``: django-prometheus's request, response and database
figures, plus popbase's own.

popbase's figures carry no personal data in any label (client codes, departments, queue names,
statuses only; never a citizen ID, a name or a user):

- ``popbase_api_requests_total{client,status}``: department API requests, counted as answered;
- ``popbase_audit_unsealed_rows`` and ``popbase_audit_oldest_unsealed_seconds``: the sealer's lag;
- ``popbase_feed_rows_total{department,outcome}``: feed rows received, applied, unchanged and
  rejected over all batches (``rate()`` of it gives rows per second), and
  ``popbase_feed_batches{status}``;
- ``popbase_celery_queue_length{queue}``: tasks waiting in each Redis queue, and
  ``popbase_celery_task_failures_total{task}``: tasks that failed for good (``ops.TaskFailure``);
- ``popbase_stats_snapshot_age_seconds``: since the newest statistics snapshot was taken;
- ``popbase_backup_last_base_timestamp_seconds``: when the newest base backup finished.

The figures read from the database and Redis are computed at scrape time (one collector, a few
indexed queries), so they are right whichever gunicorn worker answers. The request counter lives
in each worker: with several workers set ``PROMETHEUS_MULTIPROC_DIR`` (deploy/ does).

The endpoint is open only to ``METRICS_ALLOWED_ADDRESSES`` (client address as found through
``TRUSTED_PROXY_COUNT`` proxies) or to ``Authorization: Bearer <METRICS_TOKEN>``.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time

from django.conf import settings
from django.db.models import Count, Max, Min, Sum
from django.http import HttpResponse
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

logger = logging.getLogger(__name__)

API_REQUESTS = Counter(
    "popbase_api_requests",
    "Department API requests answered, by client code and HTTP status",
    ["client", "status"],
)


def api_client_label(request) -> str:
    """The department client's code (set by API-key authentication), else ``-``."""
    client = getattr(getattr(request, "user", None), "client", None)
    return getattr(client, "code", None) or "-"


class ApiRequestsMiddleware:
    """Counts every answer under ``/api/v1/`` by client and status."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith("/api/v1/"):
            API_REQUESTS.labels(api_client_label(request), str(response.status_code)).inc()
        return response


def celery_queue_names() -> list[str]:
    """The default queue and every queue the settings name (routes and declared queues)."""
    names = {getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery") or "celery"}
    for queue in getattr(settings, "CELERY_TASK_QUEUES", None) or ():
        names.add(getattr(queue, "name", queue))
    routes = getattr(settings, "CELERY_TASK_ROUTES", None) or {}
    if isinstance(routes, dict):
        for route in routes.values():
            if isinstance(route, dict) and route.get("queue"):
                names.add(route["queue"])
    return sorted(str(n) for n in names)


def celery_queue_lengths() -> dict[str, int] | None:
    """Tasks waiting per queue (Redis lists, priority sub-lists included); None without Redis."""
    url = settings.CELERY_BROKER_URL
    if not url or not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        lengths = {}
        for name in celery_queue_names():
            # kombu keeps priorities 3, 6, 9 in lists named "<queue>\x06\x16<priority>".
            keys = [name, *(f"{name}\x06\x16{p}" for p in (3, 6, 9))]
            lengths[name] = sum(client.llen(k) for k in keys)
        return lengths
    finally:
        client.close()


class PopbaseCollector:
    """popbase's figures, read at scrape time."""

    def collect(self):
        from population.audit import unsealed_rows
        from population.statistics.models import StatSnapshot
        from population.sync.models import Batch

        now = timezone.now()
        unsealed = unsealed_rows().aggregate(n=Count("id"), oldest=Min("at"))
        yield GaugeMetricFamily(
            "popbase_audit_unsealed_rows",
            "Access-log rows written and not yet sealed into the chain",
            value=unsealed["n"] or 0,
        )
        oldest = unsealed["oldest"]
        yield GaugeMetricFamily(
            "popbase_audit_oldest_unsealed_seconds",
            "Age of the oldest unsealed access-log row (0 when none)",
            value=(now - oldest).total_seconds() if oldest else 0,
        )

        rows = CounterMetricFamily(
            "popbase_feed_rows",
            "Department feed rows over all batches, by department and outcome",
            labels=["department", "outcome"],
        )
        sums = Batch.objects.values("department").annotate(
            received=Sum("received"),
            applied=Sum("applied"),
            unchanged=Sum("unchanged"),
            rejected=Sum("rejected"),
        )
        for row in sums.order_by("department"):
            for outcome in ("received", "applied", "unchanged", "rejected"):
                rows.add_metric([row["department"], outcome], row[outcome] or 0)
        yield rows
        batches = GaugeMetricFamily(
            "popbase_feed_batches", "Department feed batches by status", labels=["status"]
        )
        for row in Batch.objects.values("status").annotate(n=Count("id")).order_by("status"):
            batches.add_metric([row["status"]], row["n"])
        yield batches

        from ops.models import TaskFailure

        failures = CounterMetricFamily(
            "popbase_celery_task_failures",
            "Celery tasks that failed for good (admin: 失败任务), by task name",
            labels=["task"],
        )
        per_task = TaskFailure.objects.values("task_name").annotate(n=Count("id"))
        for row in per_task.order_by("task_name"):
            failures.add_metric([row["task_name"]], row["n"])
        yield failures

        taken = StatSnapshot.objects.aggregate(at=Max("taken_at"))["at"]
        yield GaugeMetricFamily(
            "popbase_stats_snapshot_age_seconds",
            "Seconds since the newest statistics snapshot was taken (-1 when none)",
            value=(now - taken).total_seconds() if taken else -1,
        )

        try:
            lengths = celery_queue_lengths()
        except Exception as exc:  # a scrape still answers with the other figures
            logger.warning("celery queue lengths unavailable: %s", type(exc).__name__)
            lengths = None
        if lengths is not None:
            queues = GaugeMetricFamily(
                "popbase_celery_queue_length", "Tasks waiting in a Celery queue", labels=["queue"]
            )
            for name, length in lengths.items():
                queues.add_metric([name], length)
            yield queues

        from ops.backup import latest_base_backup

        latest = latest_base_backup()
        if latest is not None:
            yield GaugeMetricFamily(
                "popbase_backup_last_base_timestamp_seconds",
                "Unix time the newest successful base backup finished",
                value=latest.finished_at.timestamp(),
            )


_popbase_registry = CollectorRegistry(auto_describe=False)
_popbase_registry.register(PopbaseCollector())


def _client_address(request) -> str:
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [
            a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def metrics_allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    if token:
        given = request.META.get("HTTP_AUTHORIZATION", "")
        if given.startswith("Bearer ") and hmac.compare_digest(
            given[len("Bearer ") :].encode(), token.encode()
        ):
            return True
    try:
        address = ipaddress.ip_address(_client_address(request))
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


def metrics_view(request):
    """Prometheus text format: the process (or multiprocess) registry, then popbase's figures."""
    if not metrics_allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    started = time.monotonic()
    body = generate_latest(registry) + generate_latest(_popbase_registry)
    body += (
        b"# HELP popbase_metrics_scrape_seconds Time to compute popbase's figures\n"
        b"# TYPE popbase_metrics_scrape_seconds gauge\n"
        + f"popbase_metrics_scrape_seconds {time.monotonic() - started:.6f}\n".encode()
    )
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
