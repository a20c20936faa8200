"""Settings for the API bench: the project's, plus a bench-only URLconf with a bare view."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "api_bench_urls"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
# One connection per gunicorn thread, kept open, as in production.
DATABASES["default"]["CONN_MAX_AGE"] = 600  # noqa: F405
LOGGING = {"version": 1, "disable_existing_loggers": False}
