"""gunicorn settings for popbase-web.service (docs/operations.md).

Bound to the loopback: nginx terminates TLS in front. No access log here: Django writes one
line per request itself (ops/logs.py: request id, path without the query string, masked IDs),
while gunicorn's would carry query strings (searched names and numbers).
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", str(2 * multiprocessing.cpu_count() + 1)))
# Above the slowest ordinary request (a statistics report); nginx's proxy_read_timeout matches.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
# Recycle workers now and then (bounded memory growth), not all at once.
max_requests = 2000
max_requests_jitter = 200
# The body limits are Django's (SHARING_MAX_*); these bound the request line and headers.
limit_request_line = 8190
limit_request_fields = 100
accesslog = None
errorlog = "-"
loglevel = "info"
# X-Forwarded-* only from nginx on this machine.
forwarded_allow_ips = "127.0.0.1,::1"
proxy_allow_ips = "127.0.0.1,::1"


def child_exit(server, worker):
    """A worker's Prometheus figures are merged, not lost, when it exits (multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
