"""Celery application.

With no broker configured (``REDIS_URL``/``CELERY_BROKER_URL`` unset) tasks run eagerly in the
calling process, which is what the quickstart wants; CI and production point at Redis.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("popbase")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Packages inside apps that hold tasks of their own.
app.autodiscover_tasks(["registry.quality"])
