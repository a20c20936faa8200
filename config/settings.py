"""popbase settings, read from the environment (see the table in README.md).

No production secret has a default: with ``POPBASE_ENV=production`` the start is refused, with
the reason, for a missing, short (< 50 characters) or development ``SECRET_KEY``, ``DEBUG``,
missing ``ALLOWED_HOSTS``, cookies not limited to HTTPS, and a missing, short (< 32
characters) or development ``AUDIT_HMAC_KEY`` or a missing or malformed audit signing key
(``config/production.py``).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
import pghistory
import pgtrigger
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


POPBASE_ENV = os.environ.get("POPBASE_ENV", "development")
if POPBASE_ENV not in {"development", "production"}:
    raise ImproperlyConfigured("POPBASE_ENV must be 'development' or 'production'.")
PRODUCTION = POPBASE_ENV == "production"

DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
# In production the host names must be given; the quickstart serves localhost.
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost")
# Cookies over HTTPS only in production (it runs behind TLS); plain HTTP for the quickstart.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=PRODUCTION)
# Second factor (django-otp, population/two_factor.py): every staff login asks for a TOTP code or
# a recovery code; on by default in production (which refuses it off), optional in development,
# where a user who has enrolled a device is still asked for it.
OTP_REQUIRED = env_bool("OTP_REQUIRED", default=PRODUCTION)
# A signed-in session ends after this many minutes without a request.
SESSION_IDLE_MINUTES = int(os.environ.get("SESSION_IDLE_MINUTES", "30"))

# Read audit keys (population/audit.py): the HMAC key of the access-log chain, and the Ed25519
# private key that signs checkpoints, as a PEM file (AUDIT_SIGNING_KEY_FILE) or the 32-byte seed
# in hex (AUDIT_SIGNING_KEY). Development uses fixed dev keys (the signing one in audit.py).
AUDIT_HMAC_KEY = os.environ.get("AUDIT_HMAC_KEY", "")
AUDIT_SIGNING_KEY_FILE = os.environ.get("AUDIT_SIGNING_KEY_FILE", "")
AUDIT_SIGNING_KEY = os.environ.get("AUDIT_SIGNING_KEY", "")


def _url_user(name: str) -> str:
    """The user named in a database URL setting ('' when unset)."""
    value = os.environ.get(name, "")
    return (dj_database_url.parse(value).get("USER") or "") if value else ""


if PRODUCTION:
    from config.production import weak_settings

    _weak = weak_settings(
        secret_key=SECRET_KEY,
        debug=DEBUG,
        allowed_hosts=ALLOWED_HOSTS,
        session_cookie_secure=SESSION_COOKIE_SECURE,
        csrf_cookie_secure=CSRF_COOKIE_SECURE,
        otp_required=OTP_REQUIRED,
        database_user=_url_user("DATABASE_URL"),
        database_owner_user=_url_user("DATABASE_OWNER_URL"),
        session_idle_minutes=SESSION_IDLE_MINUTES,
        audit_hmac_key=AUDIT_HMAC_KEY,
        audit_signing_key_file=AUDIT_SIGNING_KEY_FILE,
        audit_signing_key=AUDIT_SIGNING_KEY,
    )
    if _weak:
        raise ImproperlyConfigured(
            "POPBASE_ENV=production refuses weak settings: " + "; ".join(_weak) + "."
        )
else:
    from config.production import DEV_AUDIT_HMAC_KEY, DEV_SECRET_KEY

    SECRET_KEY = SECRET_KEY or DEV_SECRET_KEY
    AUDIT_HMAC_KEY = AUDIT_HMAC_KEY or DEV_AUDIT_HMAC_KEY
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    # Django's admin, with autocomplete answers on the access log (population.admin_site).
    "population.admin_site.PopbaseAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Hashed API keys; its own APIKey table stays unused (sharing.ApiKey extends its base).
    "population.library_apps.ApiKeyConfig",  # rest_framework_api_key, named in Chinese
    "pgtrigger",
    # pghistory's generic all-events admin is left out: it is English, unscoped and scans every
    # event table; each record's history is shown on its own admin page instead.
    "population.library_apps.PghistoryConfig",  # pghistory, named in Chinese
    "population.library_apps.AxesConfig",  # django-axes, named in Chinese
    # Second factor of staff logins: TOTP devices and one-time recovery codes (static tokens).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    # WebAuthn security keys as a second factor (population/security_keys.py).
    "population.library_apps.WebauthnConfig",  # django_otp_webauthn, named in Chinese
    "django_celery_beat",
    "population",
    "population.statistics.apps.StatisticsConfig",
    # The department data-sharing API (its own app; its tables keep their population_ names).
    "population.sharing.apps.SharingConfig",
    "population.sync.apps.SyncConfig",  # department feeds, facts and follow-ups
    "registry",
    "residence_permit",
    "settlement",
]

MIDDLEWARE = [
    # First: marks the requests that may read from a replica (inactive without replicas).
    "population.db_router.ReplicaReadsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed the second factor.
    "django_otp.middleware.OTPMiddleware",
    # Idle sessions end; staff without a passed second factor reach only its pages.
    "population.two_factor.SessionIdleMiddleware",
    "population.two_factor.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Attaches the user and URL of every request to the history rows its writes produce (not
    # to department API reads, which write no tracked row: population/middleware.py).
    "population.middleware.HistoryMiddleware",
    # Staff requests: write services must be given the acting user (area checks).
    "population.middleware.ServingStaffMiddleware",
    # Last, as django-axes asks.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
# A refused CSRF token gets the Chinese page in the admin's look, not Django's English one.
CSRF_FAILURE_VIEW = "population.error_pages.csrf_failure"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Local state of the quickstart: the embedded PostgreSQL and the demo login.
POPBASE_DATA_DIR = Path(os.environ.get("POPBASE_DATA_DIR", BASE_DIR / ".data"))

# PostgreSQL only: triggers, partial indexes and COPY are used on purpose.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if not DATABASE_URL:
    from config.embedded_db import embedded_database_url

    DATABASE_URL = embedded_database_url(POPBASE_DATA_DIR / "pg")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
    raise ImproperlyConfigured("popbase needs PostgreSQL; DATABASE_URL must be postgres://...")
# Behind PgBouncer in transaction mode: no server-side cursors (a named cursor would outlive the
# transaction's server connection). See docs/scaling.md.
DATABASE_POOLED = env_bool("DATABASE_POOLED", default=False)
# The session advisory locks of long jobs (population/locks.py) need one server session for
# the whole job: behind a transaction pooler, the direct address of PostgreSQL.
DATABASE_DIRECT_URL = os.environ.get("DATABASE_DIRECT_URL", "")
if DATABASE_POOLED:
    if not DATABASE_DIRECT_URL:
        raise ImproperlyConfigured(
            "DATABASE_POOLED needs DATABASE_DIRECT_URL (PostgreSQL itself, not the pooler) for "
            "the session locks of long jobs; see docs/scaling.md."
        )
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    # No prepared statements: PgBouncer before 1.21 cannot carry them between server sessions.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None

# Read replicas (streaming standbys), comma-separated: the department API, statistics and
# reports read from one whose replay lag is at most REPLICA_MAX_LAG_SECONDS
# (population/db_router.py). Not used on the embedded quickstart server.
from config.replicas import replica_databases  # noqa: E402

try:
    _replicas = replica_databases(
        env_list("DATABASE_REPLICA_URLS", ""),
        embedded=not os.environ.get("DATABASE_URL"),
        pooled=DATABASE_POOLED,
    )
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_REPLICA_URLS: {exc}") from exc
DATABASES |= _replicas
REPLICA_DATABASES = list(_replicas)
DATABASE_ROUTERS = ["population.db_router.ReplicaRouter"] if REPLICA_DATABASES else []
REPLICA_MAX_LAG_SECONDS = float(os.environ.get("REPLICA_MAX_LAG_SECONDS", "5"))
REPLICA_LAG_CHECK_SECONDS = float(os.environ.get("REPLICA_LAG_CHECK_SECONDS", "1"))
REPLICA_READ_PATHS = env_list("REPLICA_READ_PATHS", "/api/v1/,/admin/statistics/")
# Least privilege (population/db_roles.py): DATABASE_URL is the runtime role of the web app and
# the workers (rows only); DATABASE_OWNER_URL, when given, is the role that owns the tables:
# `manage.py migrate` connects with its user, password, host and port (the same database, and
# PostgreSQL itself even when DATABASE_URL is a pooler).
DATABASE_OWNER_URL = os.environ.get("DATABASE_OWNER_URL", "")
DATABASE_OWNER = None
DATABASE_RUNTIME_USER = DATABASES["default"].get("USER") or ""
if DATABASE_OWNER_URL:
    _owner = dj_database_url.parse(DATABASE_OWNER_URL)
    if _owner.get("NAME") != DATABASES["default"].get("NAME"):
        raise ImproperlyConfigured("DATABASE_OWNER_URL must name the same database as DATABASE_URL")
    DATABASE_OWNER = {
        "USER": _owner["USER"],
        "PASSWORD": _owner.get("PASSWORD") or "",
        "HOST": _owner.get("HOST") or "",
        "PORT": _owner.get("PORT") or "",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Chinese UI whatever the browser asks for: no LocaleMiddleware.
LANGUAGE_CODE = "zh-hans"
# Chinese for the few admin strings Django's own catalogue leaves in English ("Error:" in titles).
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Redis: Celery broker and cache. Without it, tasks run eagerly in-process (quickstart only).
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", REDIS_URL) or None
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Above the longest task, so Redis never hands a running task to a second worker.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", str(6 * 3600)))
}
# Deployments (or test runs) that share one Redis database keep their queues apart by a prefix
# on every key Celery writes there.
if os.environ.get("CELERY_REDIS_KEY_PREFIX"):
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = os.environ["CELERY_REDIS_KEY_PREFIX"]
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
        "global_keyprefix": os.environ["CELERY_REDIS_KEY_PREFIX"]
    }
# One queue per workload, so a flood of one (a province's feed files) cannot starve another
# (the nightly permit and settlement jobs, the audit sealer): workers take the queues given to
# them (`make worker QUEUES=ingest`); a worker given none takes them all. Tasks not named here
# go to "default". See docs/scaling.md.
POPBASE_TASK_QUEUES = {
    "ingest": [
        "population.sync.batch_process",
        "population.sync.inbox_scan",
        "population.sync.leases_sweep",
    ],
    "statistics": [
        "population.stats_snapshot_month",
        "population.stats_recount_check",
        "registry.quality_detect",
    ],
    "permits": [
        "residence_permit.permits_daily",
        "residence_permit.points_recompute_changed",
        "settlement.transfer_permits_expire",
    ],
    "audit": [
        "population.audit_seal",
        "population.audit_verify",
        "population.audit_archive",
        "population.partitions_ensure",
    ],
}
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    task: {"queue": queue} for queue, tasks in POPBASE_TASK_QUEUES.items() for task in tasks
}
from kombu import Queue  # noqa: E402

CELERY_TASK_QUEUES = [Queue(name) for name in ("default", *POPBASE_TASK_QUEUES)]
# Results also say which worker ran the task and from which queue.
CELERY_RESULT_EXTENDED = True
# Per-department schedules (inbox scans) live in the database, editable in the admin.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
from celery.schedules import crontab  # noqa: E402

# The fixed schedule, defined here once; the sections below add their own entries to it.
CELERY_BEAT_SCHEDULE = {
    # Statistics: snapshot the month that has just ended, on the 1st at 01:10.
    "stats-snapshot-month": {
        "task": "population.stats_snapshot_month",
        "schedule": crontab(minute=10, hour=1, day_of_month=1),
    },
}
# Statistics given to departments: counts below this are shown as "<N".
POPBASE_STATS_SMALL_COUNT = int(os.environ.get("POPBASE_STATS_SMALL_COUNT", "5"))

# Department sync (population/sync): inbox folder, rows per committed chunk, attempts before
# a batch is quarantined, optional pause between chunks to leave room for online traffic.
SYNC_INBOX_DIR = Path(os.environ.get("SYNC_INBOX_DIR", POPBASE_DATA_DIR / "inbox"))
SYNC_CHUNK_ROWS = int(os.environ.get("SYNC_CHUNK_ROWS", "50000"))
SYNC_MAX_ATTEMPTS = int(os.environ.get("SYNC_MAX_ATTEMPTS", "5"))
SYNC_CHUNK_PAUSE_SECONDS = float(os.environ.get("SYNC_CHUNK_PAUSE_SECONDS", "0"))
SYNC_MAX_BATCH_BYTES = int(os.environ.get("SYNC_MAX_BATCH_BYTES", str(512 * 1024 * 1024)))
# The lease a process holds on the batch it works on (population/sync/leases.py), renewed with
# every committed step; the sweep re-dispatches a batch whose lease lapsed. A batch whose whole
# worker died is taken over within SYNC_LEASE_SECONDS + SYNC_LEASE_SWEEP_SECONDS (90 s).
SYNC_LEASE_SECONDS = int(os.environ.get("SYNC_LEASE_SECONDS", "60"))
SYNC_LEASE_SWEEP_SECONDS = float(os.environ.get("SYNC_LEASE_SWEEP_SECONDS", "30"))
CELERY_BEAT_SCHEDULE["population.sync.leases_sweep"] = {
    "task": "population.sync.leases_sweep",
    "schedule": timedelta(seconds=SYNC_LEASE_SWEEP_SECONDS),
}
# Department API request bodies (413 too_large beyond): JSON requests, and a pushed feed file
# (larger files go through the inbox folder). The same limit with or without Idempotency-Key.
SHARING_MAX_JSON_BYTES = int(os.environ.get("SHARING_MAX_JSON_BYTES", str(1024 * 1024)))
SHARING_MAX_FEED_BYTES = int(os.environ.get("SHARING_MAX_FEED_BYTES", str(64 * 1024 * 1024)))

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "popbase",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# History (django-pghistory): statement-level triggers keep COPY-speed bulk loads, and the
# event tables refuse UPDATE and DELETE in the database.
PGHISTORY_LEVEL = pgtrigger.Statement
PGHISTORY_APPEND_ONLY = True
# Event tables keep the indexes they are queried by (object, context), not one per copied key.
PGHISTORY_FOREIGN_KEY_FIELD = pghistory.ForeignKey(db_index=False)

# Brute-force protection (django-axes): lock a username+address pair after 5 failures for 1 h.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(hours=1)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Failures (wrong passwords and wrong second-factor codes alike, population/two_factor.py) are
# cleared only once both factors have passed, so a known password does not reset the count of
# guessed codes.
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_TEMPLATE = "lockout.html"
AXES_VERBOSE = False

# Department API: failed API-key attempts allowed per client address and window (then 429).
API_KEY_FAILURE_LIMIT = int(os.environ.get("API_KEY_FAILURE_LIMIT", "20"))
API_KEY_FAILURE_WINDOW_SECONDS = int(os.environ.get("API_KEY_FAILURE_WINDOW_SECONDS", "600"))

# Breaking the glass: hours an officer's access to one person outside their area lasts.
BREAK_GLASS_HOURS = float(os.environ.get("BREAK_GLASS_HOURS", "2"))
# Admin lists of personal data count exactly up to this many rows; longer lists say "more than"
# and page up to it (population.admin_utils.CappedCountPaginator).
ADMIN_EXACT_COUNT_LIMIT = int(os.environ.get("ADMIN_EXACT_COUNT_LIMIT", "10000"))
# Number of reverse proxies in front of the app; 0 when Django faces clients directly.
AXES_IPWARE_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0")) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)

REST_FRAMEWORK = {
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # The department API authenticates by API key only: no Basic, no session (see docs/api.md).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "population.sharing.api.authentication.ApiKeyAuthentication"
    ],
    "EXCEPTION_HANDLER": "population.sharing.api.exception_handlers.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}

# OpenAPI 3 schema and its docs, served from the project (sidecar assets, no CDN).
SPECTACULAR_SETTINGS = {
    "TITLE": "popbase 数据共享接口 / data-sharing API",
    "DESCRIPTION": "部门接口：按用途、按授权范围读取人口基础信息。See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "population.sharing.api.inputs.schema_strict_hook",
    ],
}

SESSION_COOKIE_HTTPONLY = True
# The browser drops the cookie at the idle limit too (the server-side check is
# population.two_factor.SessionIdleMiddleware); the admin's sessions are the only ones.
SESSION_COOKIE_AGE = SESSION_IDLE_MINUTES * 60
# TOTP: the issuer shown in authenticator apps; a wrong code delays the next try (1 s, 2 s, 4 s…)
OTP_TOTP_ISSUER = "popbase"
# WebAuthn security keys (django-otp-webauthn, population/security_keys.py): a second factor
# only, never a login without the password. The relying party ID is the site's domain (keys
# are bound to it: changing it means enrolling the keys again) and the origins are the exact
# addresses the browser shows (https://name[:port]). Unset, both come from the request's host,
# which ALLOWED_HOSTS has already checked (the quickstart on localhost, the tests' live server).
WEBAUTHN_RP_ID = os.environ.get("WEBAUTHN_RP_ID", "").strip()
WEBAUTHN_ORIGINS = env_list("WEBAUTHN_ORIGINS", "")
OTP_WEBAUTHN_RP_NAME = "popbase 人口基础信息库"
OTP_WEBAUTHN_RP_ID_CALLABLE = "population.security_keys.relying_party_id"
OTP_WEBAUTHN_ALLOWED_ORIGINS = WEBAUTHN_ORIGINS
OTP_WEBAUTHN_HELPER_CLASS = "population.security_keys.SecurityKeyHelper"
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
OTP_WEBAUTHN_TIMEOUT_SECONDS = 120
# The library asks for a fixed origin list; without WEBAUTHN_ORIGINS the helper uses the
# request's own origin instead.
SILENCED_SYSTEM_CHECKS = [] if WEBAUTHN_ORIGINS else ["otp_webauthn.E030"]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_citizen_ids": {"()": "population.logging.MaskCitizenIdFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["mask_citizen_ids"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"pgserver": {"level": "WARNING"}},
}

# Periodic jobs (Celery beat). Each app adds its own entries; times are Asia/Shanghai.
CELERY_BEAT_SCHEDULE |= {
    # Residence permits: endorsement reminders, lapses and expiries for the day.
    "residence_permit.permits_daily": {
        "task": "residence_permit.permits_daily",
        "schedule": crontab(hour=1, minute=10),
    },
    # Points of holders whose facts or permit changed (and yearly residence increments).
    "residence_permit.points_recompute_changed": {
        "task": "residence_permit.points_recompute_changed",
        "schedule": crontab(hour=2, minute=10),
    },
}
# Settlement: expire unused transfer permits (准迁证) past their validity.
CELERY_BEAT_SCHEDULE |= {
    "settlement.transfer_permits_expire": {
        "task": "settlement.transfer_permits_expire",
        "schedule": crontab(hour=1, minute=40),
    },
}

# Read audit (population/audit.py). Rows are written on the request path unchained; the sealer
# (Celery beat every few seconds, or `manage.py audit_seal`) chains them in batches with keyed
# HMACs and signs a checkpoint per batch, kept in the database and appended to files outside it.
# Its keys (AUDIT_HMAC_KEY, AUDIT_SIGNING_KEY_FILE, AUDIT_SIGNING_KEY) are read near the top,
# with the other settings production refuses when missing or weak (config/production.py).
# "sha256" (HMAC-SHA-256) or "sm3" (HMAC-SM3, GB/T 32905, for 商用密码应用安全性评估).
AUDIT_HMAC_ALGORITHM = os.environ.get("AUDIT_HMAC_ALGORITHM", "sha256").strip().lower()
if AUDIT_HMAC_ALGORITHM not in {"sha256", "sm3"}:
    raise ImproperlyConfigured("AUDIT_HMAC_ALGORITHM must be 'sha256' or 'sm3'.")
AUDIT_CHECKPOINT_DIR = Path(
    os.environ.get("AUDIT_CHECKPOINT_DIR", POPBASE_DATA_DIR / "audit-checkpoints")
)
AUDIT_SEAL_BATCH = int(os.environ.get("AUDIT_SEAL_BATCH", "5000"))
AUDIT_SEAL_INTERVAL_SECONDS = float(os.environ.get("AUDIT_SEAL_INTERVAL_SECONDS", "5"))
# A row still unsealed this long after it was written is reported by audit_verify.
AUDIT_SEAL_MAX_DELAY_SECONDS = int(os.environ.get("AUDIT_SEAL_MAX_DELAY_SECONDS", "300"))
# Monthly partitions (population/partitions.py): the current month and this many ahead are
# created for every range-partitioned table by a daily job and `manage.py partitions_ensure`.
PARTITIONS_AHEAD_MONTHS = int(os.environ.get("PARTITIONS_AHEAD_MONTHS", "3"))
# Months of access log kept in the database; older months are exported with their checkpoints
# to AUDIT_ARCHIVE_DIR (gzip JSON lines, verified) and then dropped (`manage.py audit_archive`).
# 等保 2.0 asks for at least 6 months, PIPL records are kept 3 years.
AUDIT_RETENTION_MONTHS = int(os.environ.get("AUDIT_RETENTION_MONTHS", "36"))
if AUDIT_RETENTION_MONTHS < 6:
    raise ImproperlyConfigured("AUDIT_RETENTION_MONTHS must be at least 6 (等保 2.0).")
AUDIT_ARCHIVE_DIR = Path(os.environ.get("AUDIT_ARCHIVE_DIR", POPBASE_DATA_DIR / "audit-archive"))
CELERY_BEAT_SCHEDULE |= {
    "population.audit_seal": {
        "task": "population.audit_seal",
        "schedule": timedelta(seconds=AUDIT_SEAL_INTERVAL_SECONDS),
    },
    # Nightly check of the whole chain against the checkpoints (result on the auditor's page).
    "population.audit_verify": {
        "task": "population.audit_verify",
        "schedule": crontab(hour=3, minute=30),
    },
    # Next months' partitions, daily (idempotent), and the access log's monthly retention.
    "population.partitions_ensure": {
        "task": "population.partitions_ensure",
        "schedule": crontab(hour=0, minute=20),
    },
    "population.audit_archive": {
        "task": "population.audit_archive",
        "schedule": crontab(hour=4, minute=10, day_of_month=2),
    },
}

# --- Production operation (ops/, docs/operations.md): health, metrics, logs, backups ---------
INSTALLED_APPS += ["django_prometheus", "ops"]
MIDDLEWARE = [
    # First: request id for every log line of the request, and the request's duration.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "ops.logs.RequestIdMiddleware",
    *MIDDLEWARE,
    "ops.metrics.ApiRequestsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
# /metrics: open to these addresses (client address through TRUSTED_PROXY_COUNT proxies) or to
# "Authorization: Bearer <METRICS_TOKEN>".
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOWED_ADDRESSES = env_list("METRICS_ALLOWED_ADDRESSES", "127.0.0.1,::1")
try:
    import ipaddress as _ipaddress

    METRICS_ALLOWED_NETWORKS = [
        _ipaddress.ip_network(a, strict=False) for a in METRICS_ALLOWED_ADDRESSES
    ]
except ValueError as _exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_ADDRESSES: {_exc}") from None
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
# django-prometheus: no per-model or migration figures (they would need its model mixins).
PROMETHEUS_EXPORT_MIGRATIONS = False

# HTTPS behind nginx (deploy/nginx/popbase.conf): redirect plain HTTP, HSTS, and trust the
# proxy's X-Forwarded-Proto only when a proxy is declared. Monitors reach /health/ and /metrics
# on the loopback without TLS.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^metrics$"]
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000" if PRODUCTION else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=PRODUCTION)
# Preloading commits the whole domain to HTTPS in browsers' built-in lists: the city decides.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS = [*globals().get("SILENCED_SYSTEM_CHECKS", []), "security.W021"]
if TRUSTED_PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# /health/ (ops/health.py): limits of each component.
HEALTH_REDIS_TIMEOUT_SECONDS = float(os.environ.get("HEALTH_REDIS_TIMEOUT_SECONDS", "1"))
HEALTH_CELERY_TIMEOUT_SECONDS = float(os.environ.get("HEALTH_CELERY_TIMEOUT_SECONDS", "1"))
HEALTH_DISK_MIN_FREE_PERCENT = float(os.environ.get("HEALTH_DISK_MIN_FREE_PERCENT", "10"))
HEALTH_DISK_PATHS = env_list("HEALTH_DISK_PATHS", "")

# Backups (ops/backup.py): WAL archive and base backups under BACKUP_DIR; empty = none taken.
BACKUP_DIR = os.environ.get("BACKUP_DIR", "")
BACKUP_KEEP_BASE = int(os.environ.get("BACKUP_KEEP_BASE", "7"))
BACKUP_MAX_AGE_HOURS = float(os.environ.get("BACKUP_MAX_AGE_HOURS", "26"))
# A role allowed to stream a base backup (REPLICATION); DATABASE_URL when empty.
BACKUP_DATABASE_URL = os.environ.get("BACKUP_DATABASE_URL", "")
# PostgreSQL's programs; empty = the newest /usr/lib/postgresql/<N>/bin.
POSTGRES_BIN_DIR = os.environ.get("POSTGRES_BIN_DIR", "")

# Logs: one line per record on stderr (journald under systemd), JSON or text, each with the
# request id; citizen IDs masked in the whole line. Celery workers keep this configuration.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "json" if PRODUCTION else "text").strip().lower()
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured("LOG_FORMAT must be 'json' or 'text'.")
LOGGING["filters"]["request_id"] = {"()": "ops.logs.RequestIdFilter"}
LOGGING["formatters"] = {
    "json": {
        "()": "ops.logs.JsonFormatter",
        "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s",
        "rename_fields": {"levelname": "level", "name": "logger"},
        "timestamp": "time",
    },
    "text": {
        "()": "ops.logs.TextFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
    },
}
LOGGING["handlers"]["console"]["filters"] = ["mask_citizen_ids", "request_id"]
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT
# django-health-check logs a traceback per failed probe; /health/'s answer already says why.
LOGGING["loggers"]["health_check"] = {"level": "ERROR"}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Celery reliability (ops/celery_policy.py): time limits per task below the visibility timeout,
# retries with backoff on transient errors only, dead tasks kept in ops.TaskFailure.
from ops.celery_policy import default_limits, task_annotations  # noqa: E402

_visibility = CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
# Production refuses limits that do not fit below the visibility timeout; elsewhere (a test
# worker with a seconds-long timeout) the tasks that do not fit run without limits.
try:
    CELERY_TASK_ANNOTATIONS = task_annotations(_visibility, strict=PRODUCTION)
    CELERY_TASK_SOFT_TIME_LIMIT, CELERY_TASK_TIME_LIMIT = default_limits(
        _visibility, strict=PRODUCTION
    )
except ValueError as _exc:
    raise ImproperlyConfigured(str(_exc)) from None
