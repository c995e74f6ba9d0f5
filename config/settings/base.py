"""Prompt Studio settings: one module, every value read from the environment.

``DJANGO_ENV`` is ``development`` (default) or ``production``. Development needs nothing set:
secrets are generated and kept under ``.local/`` and the embedded PostgreSQL and Redis started by
``manage.py devservices up`` are used. Production refuses to start without its secrets and services.
"""

from __future__ import annotations

import json
from datetime import timedelta

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    BASE_DIR,
    LOCAL_DIR,
    embedded_database_url,
    embedded_redis_url,
    embedded_services,
    envbool,
    envchoice,
    envfloat,
    envint,
    envlist,
    envstr,
    generate_fernet_key,
    generate_secret_key,
    local_secret,
    redis_url_with_db,
)

DJANGO_ENV = envchoice("DJANGO_ENV", "development", ("development", "production"))
PRODUCTION = DJANGO_ENV == "production"

# --- secrets -----------------------------------------------------------------------------------

if PRODUCTION:
    _missing = [
        name
        for name in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS")
        if not envstr(name)
    ]
    if _missing:
        raise ImproperlyConfigured(
            "DJANGO_ENV=production refuses to start without "
            + ", ".join(_missing)
            + ". Set them in the environment (see README, 'Production')."
        )
    SECRET_KEY = envstr("SECRET_KEY")
    FIELD_ENCRYPTION_KEYS = envlist("FIELD_ENCRYPTION_KEYS", [])
else:
    SECRET_KEY = envstr("SECRET_KEY") or local_secret("secret_key", generate_secret_key)
    FIELD_ENCRYPTION_KEYS = envlist("FIELD_ENCRYPTION_KEYS", []) or [
        local_secret("field_encryption_key", generate_fernet_key)
    ]

# Development defaults to DEBUG off too: a stack trace must never reach a browser or client.
DEBUG = envbool("DJANGO_DEBUG", False) and not PRODUCTION
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

# --- applications ------------------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django.contrib.postgres",
    "guardian",
    "channels",
    "config",
    "workspaces",
    "governance",
    "datasources",
    "prompts",
    "semantic",
    "agent",
    "executions",
    "evals",
]

MIDDLEWARE = [
    "config.middleware.RequestIdMiddleware",
    "config.middleware.BodySizeLimitMiddleware",
    "config.middleware.QueryStringMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.ErrorBodyMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.pages.workspace_context",
            ],
        },
    },
]

# --- data stores -------------------------------------------------------------------------------

_services = {} if PRODUCTION else embedded_services()
DATABASE_URL = envstr("DATABASE_URL") or embedded_database_url(_services)
REDIS_URL = envstr("REDIS_URL") or embedded_redis_url(_services)
# Neither may be missing in practice; config.checks reports it with the command that fixes it.
EMBEDDED_SERVICES_MISSING = [
    name for name, url in (("DATABASE_URL", DATABASE_URL), ("REDIS_URL", REDIS_URL)) if not url
]

DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL or "postgresql://postgres@127.0.0.1:1/promptstudio",
        conn_max_age=envint("DB_CONN_MAX_AGE", 0, minimum=0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point to PostgreSQL: it is the only database of Prompt Studio.")
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = envint("DB_CONNECT_TIMEOUT", 5)
# The web process borrows connections from a psycopg pool of at most DB_POOL_MAX_SIZE per process
# (a request no longer pays for a new PostgreSQL connection); 0 = a connection per request, or
# DB_CONN_MAX_AGE. Celery workers have a pool of their own (WORKER_DB_POOL_MAX_SIZE).
DB_POOL_MAX_SIZE = envint("DB_POOL_MAX_SIZE", 10, minimum=0)
# Threads per ASGI process serving plain HTTP through Django's WSGI handler (config.http_threads);
# each holds at most one pooled connection while it runs. 0: Django's ASGI handler serves HTTP.
HTTP_THREADS = envint("HTTP_THREADS", 8, minimum=0)
if DB_POOL_MAX_SIZE and not DATABASES["default"]["CONN_MAX_AGE"]:
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": envint("DB_POOL_TIMEOUT", 10, minimum=1),  # waiting for a free connection
    }
# Celery workers borrow from a pool of their own (config/celery.py): a turn holds a connection only
# while it reads or writes, never while it waits on a model or a data source.
WORKER_DB_POOL_MAX_SIZE = envint("WORKER_DB_POOL_MAX_SIZE", 16, minimum=1)
WORKER_DB_POOL_TIMEOUT = envint("WORKER_DB_POOL_TIMEOUT", 30, minimum=1)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Logical Redis databases: 0 broker, 1 results, 2 cache, 3 channel layer (tests shift them).
REDIS_DB_BASE = 0
# The broker is Redis unless CELERY_BROKER_URL names another (amqp://... for RabbitMQ).
CELERY_BROKER_URL = envstr("CELERY_BROKER_URL") or REDIS_URL
CELERY_RESULT_BACKEND = redis_url_with_db(REDIS_URL, 1) if REDIS_URL else ""
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": redis_url_with_db(REDIS_URL, 2) if REDIS_URL else "redis://127.0.0.1:1/2",
        "KEY_PREFIX": "psa",
        "TIMEOUT": 300,
    }
}
# The channel layer's Redis connections per ASGI process or worker: a bounded pool whose callers wait
# (at most CHANNEL_LAYER_POOL_TIMEOUT seconds) rather than fail when a burst of hundreds of sockets
# joins or leaves groups at once (config.channel_layer).
CHANNEL_LAYER_MAX_CONNECTIONS = envint("CHANNEL_LAYER_MAX_CONNECTIONS", 100, minimum=2)
CHANNEL_LAYER_POOL_TIMEOUT = envint("CHANNEL_LAYER_POOL_TIMEOUT", 20, minimum=1)
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "config.channel_layer.BoundedRedisChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": redis_url_with_db(REDIS_URL, 3) if REDIS_URL else "redis://127.0.0.1:1/3",
                    "max_connections": CHANNEL_LAYER_MAX_CONNECTIONS,
                    "timeout": CHANNEL_LAYER_POOL_TIMEOUT,
                }
            ],
            "prefix": "psa",
            "capacity": 1000,
            "expiry": 60,
        },
    }
}

# --- authentication ----------------------------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Object permissions are never granted to anonymous users.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "studio"
LOGOUT_REDIRECT_URL = "login"

# --- API ---------------------------------------------------------------------------------------

_RENDERERS = ["rest_framework.renderers.JSONRenderer"]
if DEBUG:
    _RENDERERS.append("rest_framework.renderers.BrowsableAPIRenderer")
REST_FRAMEWORK = {
    # JWT first: an unauthenticated API call then answers 401 with a WWW-Authenticate header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": _RENDERERS,
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=envint("JWT_ACCESS_MINUTES", 15, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=envint("JWT_REFRESH_DAYS", 1, minimum=1)),
    "SIGNING_KEY": envstr("JWT_SIGNING_KEY") or SECRET_KEY,
    "ALGORITHM": "HS256",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Prompt Studio API",
    "DESCRIPTION": (
        "The integrator API of Prompt Studio. Authenticate with a Bearer JWT from "
        "`POST /api/v1/auth/token/` (or a session cookie). Every 4xx and 5xx answer has the body "
        '`{"error": {"code": ..., "message": ..., "details": ...}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True},
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "workspaces.models.Role",
        "PromptStatusEnum": "prompts.models.Prompt.Status",
        "ExecutionStatusEnum": "executions.models.ExecutionStatus",
        "GlossaryKindEnum": "semantic.models.GlossaryKind",
        "DataSourceKindEnum": "datasources.models.DataSourceKind",
    },
}

# --- product settings (defaults from ARCHITECTURE.md) ------------------------------------------

PSA_TIMEOUT_SECONDS = envint("PSA_TIMEOUT_SECONDS", 30, minimum=1)
PSA_RETRY_COUNT = envint("PSA_RETRY_COUNT", 3, minimum=0)
PSA_BACKOFF_COEFF = envfloat("PSA_BACKOFF_COEFF", 2.0)
TLO_MAX_MATCHED_TABLES = envint("TLO_MAX_MATCHED_TABLES", 10, minimum=1)
WS_PING_INTERVAL = envint("WS_PING_INTERVAL", 30, minimum=1)
WS_MAX_CONNECTIONS_PER_EXECUTION = envint("WS_MAX_CONNECTIONS_PER_EXECUTION", 5, minimum=1)
MAX_LOOP_COUNT = envint("MAX_LOOP_COUNT", 10, minimum=1)
MAX_PROMPT_CHARS = envint("MAX_PROMPT_CHARS", 8000, minimum=1)
# A turn holds a lease on its row while it runs, renewed by a heartbeat every third of it; a lease
# that expires means its worker is gone, and the sweeper (celery beat, every SWEEP_INTERVAL_SECONDS)
# resumes the turn elsewhere. TURN_MAX_DELIVERIES bounds how often one turn may start (poison turns).
TURN_LEASE_SECONDS = envint("TURN_LEASE_SECONDS", 30, minimum=1)
TURN_MAX_DELIVERIES = envint("TURN_MAX_DELIVERIES", 5, minimum=1)
# A worker that finishes a turn runs the execution's next one itself (claimed in the transaction
# that finished the last), instead of a broker hop to whichever worker is free; off, every turn is a task.
TURN_CARRY_ON = envbool("TURN_CARRY_ON", True)
SWEEP_INTERVAL_SECONDS = envint("SWEEP_INTERVAL_SECONDS", 15, minimum=1)
# Backoff of model retries: PSA_BACKOFF_COEFF ** attempt seconds with jitter, at most this (well
# below the broker's visibility timeout).
PSA_RETRY_MAX_DELAY = envint("PSA_RETRY_MAX_DELAY", 60, minimum=1)
ROUTING_STRATEGY = envchoice("ROUTING_STRATEGY", "balanced", ("balanced", "quality", "cost", "latency"))
MODEL_PER_TURN = envbool("MODEL_PER_TURN", True)
# How long a model's intent classification of a question is reused (Redis); 0 = never.
INTENT_CACHE_SECONDS = envint("INTENT_CACHE_SECONDS", 3600, minimum=0)
SAFETY_LEVEL = envchoice("SAFETY_LEVEL", "strict", ("strict", "standard", "permissive"))
OPENAI_API_KEY = envstr("OPENAI_API_KEY")
OPENAI_BASE_URL = envstr("OPENAI_BASE_URL")

# --- the model layer (agent.llm) ---------------------------------------------------------------
# With no OPENAI_API_KEY and no keyed agent.ModelConfig for a workspace, every call goes to the
# built-in offline model, so a fresh machine works with nothing configured.

# The model asked for each turn category (a ModelConfig name, a provider model name, or "offline").
# MODEL_PER_TURN=false uses MODEL_PLANNING for every category.
MODEL_CLASSIFICATION = envstr("MODEL_CLASSIFICATION", "gpt-4o-mini")
MODEL_PLANNING = envstr("MODEL_PLANNING", "gpt-4o")
MODEL_GENERATION = envstr("MODEL_GENERATION", "gpt-4o")
# Tried in order, within the same call, when the chosen model fails transiently (429, 5xx,
# timeout, connection) or does not exist. Empty by default: a silent switch to a weaker model
# (or to "offline") is an operator's decision.
MODEL_FALLBACKS = envlist("MODEL_FALLBACKS", [])
# One HTTP request to the model; the client never retries (the turn task retries with backoff).
MODEL_TIMEOUT_SECONDS = envfloat("MODEL_TIMEOUT_SECONDS", 60.0)
if MODEL_TIMEOUT_SECONDS <= 0:
    raise ImproperlyConfigured(f"MODEL_TIMEOUT_SECONDS must be positive, got {MODEL_TIMEOUT_SECONDS}")
# Tokens (prompt + completion) a workspace may use per calendar month (UTC); 0 = unlimited.
# A ModelConfig's monthly_token_budget replaces it for calls through that configuration.
MODEL_TOKEN_BUDGET = envint("MODEL_TOKEN_BUDGET", 0, minimum=0)
# USD per million tokens, (prompt, completion), by provider model name; a dated name
# ("gpt-4o-2024-08-06") is priced by its longest listed prefix; unknown models cost 0.
# MODEL_PRICES='{"my-model": [1.0, 2.0]}' adds or replaces entries.
MODEL_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "gpt-3.5-turbo": (0.50, 1.50),
}
try:
    MODEL_PRICES.update(
        {
            str(name): (float(price[0]), float(price[1]))
            for name, price in json.loads(envstr("MODEL_PRICES", "{}")).items()
        }
    )
except (ValueError, TypeError, IndexError, KeyError, AttributeError) as _exc:
    raise ImproperlyConfigured(f'MODEL_PRICES must be JSON like {{"model": [input, output]}}: {_exc}') from None

# --- live progress: WebSocket and event feed (executions.consumers, executions.feeds) ----------
# WS_PING_INTERVAL and WS_MAX_CONNECTIONS_PER_EXECUTION are with the product settings above.

# A WebSocket ticket (POST /api/v1/executions/{id}/ws-ticket) is good for one connect within this.
WS_TICKET_SECONDS = envint("WS_TICKET_SECONDS", 30, minimum=1)
# Browser origins allowed besides those of ALLOWED_HOSTS (scheme://host[:port]; "*" allows any).
WS_ALLOWED_ORIGINS = envlist("WS_ALLOWED_ORIGINS", [])
# Redis connections per ASGI process for tickets and socket slots (callers wait beyond it).
WS_REDIS_MAX_CONNECTIONS = envint("WS_REDIS_MAX_CONNECTIONS", 50, minimum=1)
# The SSE feed polls the database this often, sends a keep-alive comment after this much silence,
# and ends after EVENT_STREAM_MAX_SECONDS (the client resumes with Last-Event-ID).
EVENT_STREAM_POLL_SECONDS = envfloat("EVENT_STREAM_POLL_SECONDS", 0.5)
EVENT_STREAM_KEEPALIVE_SECONDS = envint("EVENT_STREAM_KEEPALIVE_SECONDS", 15, minimum=1)
EVENT_STREAM_MAX_SECONDS = envint("EVENT_STREAM_MAX_SECONDS", 300, minimum=1)
if EVENT_STREAM_POLL_SECONDS <= 0:
    raise ImproperlyConfigured(f"EVENT_STREAM_POLL_SECONDS must be positive, got {EVENT_STREAM_POLL_SECONDS}")

# --- the integrator API: limits (executions.apis, prompts.apis) --------------------------------

# Requests per window (RATE_LIMIT_WINDOW_SECONDS, counted from a counter's first hit) in Redis;
# 0 = no limit. Over a limit: 429 rate_limited with Retry-After (executions.ratelimits).
RATE_LIMIT_WINDOW_SECONDS = envint("RATE_LIMIT_WINDOW_SECONDS", 60, minimum=1)
RATE_LIMIT_API_PER_USER = envint("RATE_LIMIT_API_PER_USER", 1200, minimum=0)
RATE_LIMIT_EXECUTE_PER_USER = envint("RATE_LIMIT_EXECUTE_PER_USER", 30, minimum=0)
RATE_LIMIT_EXECUTE_PER_WORKSPACE = envint("RATE_LIMIT_EXECUTE_PER_WORKSPACE", 300, minimum=0)
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["executions.ratelimits.ApiUserThrottle"]

# --- data sources ------------------------------------------------------------------------------

# Loopback and private addresses are for development (the demo sources); production refuses them
# unless allowed. Link-local and cloud-metadata addresses are always refused.
DATASOURCE_ALLOW_PRIVATE_HOSTS = envbool("DATASOURCE_ALLOW_PRIVATE_HOSTS", not PRODUCTION)
DATASOURCE_ALLOW_HOSTS = envlist("DATASOURCE_ALLOW_HOSTS", [])
DATASOURCE_DENY_HOSTS = envlist("DATASOURCE_DENY_HOSTS", [])
# The demo data (make run): a database on our PostgreSQL server and files in this folder.
DEMO_DATA_DIR = envstr("DEMO_DATA_DIR") or str(LOCAL_DIR / "demo")
DEMO_DATABASE_NAME = envstr("DEMO_DATABASE_NAME", "promptstudio_demo")
# SQLite files and file folders must live under one of these.
DATASOURCE_FILE_ROOTS = envlist("DATASOURCE_FILE_ROOTS", [DEMO_DATA_DIR, str(LOCAL_DIR / "files")])
DATASOURCE_DOWNLOAD_DIR = envstr("DATASOURCE_DOWNLOAD_DIR") or str(LOCAL_DIR / "downloads")
DATASOURCE_MAX_DOWNLOAD_BYTES = envint("DATASOURCE_MAX_DOWNLOAD_BYTES", 512 * 1024 * 1024, minimum=1)
QUERY_MAX_ROWS = envint("QUERY_MAX_ROWS", 10_000, minimum=1)
QUERY_PREVIEW_ROWS = envint("QUERY_PREVIEW_ROWS", 100, minimum=1)
# Classification on every catalog read: rows sampled per table, the time one sample query may take,
# and the time all samples of one read may take (tables beyond it are classified by their names).
CLASSIFY_SAMPLE_ROWS = envint("CLASSIFY_SAMPLE_ROWS", 100, minimum=0)
CLASSIFY_SAMPLE_TIMEOUT_SECONDS = envint("CLASSIFY_SAMPLE_TIMEOUT_SECONDS", 10, minimum=1)
CLASSIFY_SAMPLE_BUDGET_SECONDS = envint("CLASSIFY_SAMPLE_BUDGET_SECONDS", 120, minimum=0)
# An export streams the whole result, so it gets its own, longer limit than interactive queries.
EXPORT_TIMEOUT_SECONDS = envint("EXPORT_TIMEOUT_SECONDS", 600, minimum=1)
# Full results exported as CSV/Parquet land here (a local folder by default).
RESULT_STORE_DIR = envstr("RESULT_STORE_DIR") or str(LOCAL_DIR / "media" / "results")

# Largest request body accepted (413 above it); prompts and API bodies are small.
MAX_REQUEST_BODY_BYTES = envint("MAX_REQUEST_BODY_BYTES", 2 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
HEALTH_CHECK_TIMEOUT_SECONDS = envfloat("HEALTH_CHECK_TIMEOUT_SECONDS", 2.0)

# --- the queue: admission control ----------------------------------------------------------------
# An execution waits as "queued" until a worker starts it. POST /prompts/execute answers 503
# overloaded (Retry-After) when a new one could not start within QUEUE_MAX_WAIT_SECONDS (0: never
# refuse), from the backlog and the measured start rate (executions started in the last
# QUEUE_RATE_WINDOW_SECONDS, at least QUEUE_START_RATE_FLOOR a second).
QUEUE_MAX_WAIT_SECONDS = envint("QUEUE_MAX_WAIT_SECONDS", 60, minimum=0)
QUEUE_RATE_WINDOW_SECONDS = envint("QUEUE_RATE_WINDOW_SECONDS", 60, minimum=1)
QUEUE_START_RATE_FLOOR = envfloat("QUEUE_START_RATE_FLOOR", 5.0)
if QUEUE_START_RATE_FLOOR <= 0:
    raise ImproperlyConfigured(f"QUEUE_START_RATE_FLOOR must be positive, got {QUEUE_START_RATE_FLOOR}")

# --- Celery ------------------------------------------------------------------------------------

# The queue turns are sent to and workers take them from (one per deployment sharing a broker).
CELERY_TASK_DEFAULT_QUEUE = envstr("CELERY_QUEUE", "celery")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Time limits stay well below the visibility timeout, so a slow task is never redelivered while alive.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Enforced by prefork and solo workers only: the Procfile's thread pool relies on the timeouts of each
# wait instead (MODEL_TIMEOUT_SECONDS, statement timeouts on data sources).
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = max(1, CELERY_TASK_TIME_LIMIT - 30)
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "executions-sweep": {"task": "executions.sweep", "schedule": float(SWEEP_INTERVAL_SECONDS)},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(LOCAL_DIR / "celerybeat-schedule")

# --- static files, i18n ------------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / ".local" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# In development WhiteNoise serves straight from the finders, so no collectstatic is needed.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION
MEDIA_ROOT = envstr("MEDIA_ROOT") or str(LOCAL_DIR / "media")
MEDIA_URL = "/media/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- security ----------------------------------------------------------------------------------

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^health$"]
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- logging -----------------------------------------------------------------------------------

LOG_LEVEL = envstr("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.logging.RequestIdFilter"}},
    "formatters": {"json": {"()": "config.logging.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        # Our error middleware logs unhandled exceptions once, with the request id.
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "celery": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}

# Celery keeps our JSON logging instead of installing its own root handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
