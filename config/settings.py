"""Settings, read from the environment (12-factor).

With no variables set, the registry runs embedded: SQLite, files on local disk, a local-memory
cache and a Celery worker that passes messages through a folder, so ``make run`` needs no
services. ``DATABASE_URL``, ``REDIS_URL`` / ``CELERY_BROKER_URL`` and ``S3_BUCKET`` switch to
PostgreSQL, Redis and S3.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from urllib.parse import urlsplit

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    """A variable, or the contents of the file named by ``<NAME>_FILE`` (Docker secrets).
    Set but empty counts as unset (compose files often pass `VAR=` through)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name) or default


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var"))).resolve()


def _embedded_secret_key() -> str:
    # The embedded default must not ship a known key; one is made on first start and kept.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env_str("SECRET_KEY") or _embedded_secret_key()
# A separate pepper lets SECRET_KEY rotate without invalidating every API key.
API_KEY_PEPPER = env_str("API_KEY_PEPPER") or SECRET_KEY
DEBUG = env_bool("DEBUG")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
PUBLIC_URL = env_str("PUBLIC_URL", "http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    # django.contrib.admin, on a site whose log-in is throttled.
    "config.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "storages",
    "accounts",
    "registry",
    "uploads",
    "publishing",
    "webhooks",
    "analytics",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django's own, standing aside for installers (core.middleware.from_installer). CSRF and
    # frame options stay Django's, which `manage.py check --deploy` looks for by name.
    "core.middleware.BrowserSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "core.middleware.BrowserAuthenticationMiddleware",
    "core.middleware.BrowserMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.security.ContentSecurityPolicyMiddleware",
    "core.middleware.DomainErrorMiddleware",
    "core.middleware.DependencyOutageMiddleware",
]
# Seconds a client is asked to wait when the database or the packages storage is down.
OUTAGE_RETRY_AFTER = env_int("OUTAGE_RETRY_AFTER", 10)

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "accounts.dashboard.context_processors.dashboard",
            ],
        },
    },
]

# Database ---------------------------------------------------------------------------------------

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write at once: wait for the lock instead of failing, and
    # take it at BEGIN so a read never has to upgrade to a write mid-transaction.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Accounts ---------------------------------------------------------------------------------------

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "org-list"
LOGOUT_REDIRECT_URL = "login"
# How long an emailed invitation link works.
INVITATION_LIFETIME_SECONDS = env_int("INVITATION_LIFETIME_SECONDS", 7 * 24 * 3600)
# Failed attempts per window (seconds) before more attempts get 429 (accounts.throttle). A key
# or password that is right is never held back by the counts of others.
_LOGIN_WINDOW = env_int("LOGIN_FAILURE_WINDOW", 300)
_KEY_WINDOW = env_int("KEY_FAILURE_WINDOW", 300)
AUTH_FAILURE_LIMITS = {
    # Wrong passwords for one account, from anywhere: guessing one password stays slow.
    "login": (env_int("LOGIN_FAILURE_LIMIT", 10), _LOGIN_WINDOW),
    # Failed log-ins from one address, across accounts; higher, as many people may share one.
    "login-source": (env_int("LOGIN_SOURCE_FAILURE_LIMIT", 100), _LOGIN_WINDOW),
    # Keys that do not verify, from one address. Keys are 256-bit random, so guessing is
    # hopeless; this stops hammering and scanning.
    "key": (env_int("KEY_FAILURE_LIMIT", 100), _KEY_WINDOW),
    # Wrong secrets for one known key id, from anywhere; also bounds its refusals' audit.
    "key-id": (env_int("KEY_ID_FAILURE_LIMIT", 20), _KEY_WINDOW),
}
# Number of reverse proxies in front of the app that append to X-Forwarded-For. Zero means
# the header is ignored and REMOTE_ADDR is the client (anyone can write the header). Behind a
# proxy, leaving it at zero makes every client the proxy: one throttle count and one address
# for key network limits.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)


def _email_settings() -> dict[str, object]:
    """SMTP from EMAIL_URL (smtp[s]://user:password@host:port) or EMAIL_HOST & co; without
    either, each message is a file in EMAIL_FILE_PATH (default DATA_DIR/mail). Never the
    console: mails carry sign-up, reset and invitation links, which do not belong in logs."""
    url = env_str("EMAIL_URL")
    if url:
        parts = urlsplit(url)
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": parts.hostname or "localhost",
            "EMAIL_PORT": parts.port or (465 if parts.scheme == "smtps" else 587),
            "EMAIL_HOST_USER": unquote(parts.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
            "EMAIL_USE_SSL": parts.scheme == "smtps",
            "EMAIL_USE_TLS": parts.scheme == "smtp+tls",
        }
    if env_str("EMAIL_HOST"):
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": env_str("EMAIL_HOST"),
            "EMAIL_PORT": env_int("EMAIL_PORT", 587),
            "EMAIL_HOST_USER": env_str("EMAIL_HOST_USER"),
            "EMAIL_HOST_PASSWORD": env_str("EMAIL_HOST_PASSWORD"),
            "EMAIL_USE_TLS": env_bool("EMAIL_USE_TLS", True),
            "EMAIL_USE_SSL": env_bool("EMAIL_USE_SSL"),
        }
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": env_str("EMAIL_FILE_PATH", str(DATA_DIR / "mail")),
    }


globals().update(_email_settings())
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Wheelhouse <noreply@localhost>")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)

# Cache ------------------------------------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL")
_CACHE_KEY_PREFIX = env_str("CACHE_KEY_PREFIX", "wheelhouse")
_REDIS_CACHE = {
    "BACKEND": "django.core.cache.backends.redis.RedisCache",
    "LOCATION": REDIS_URL,
    # A cache that does not answer must fail fast: its callers go on without it (core.cache).
    "OPTIONS": {
        "socket_connect_timeout": env_float("CACHE_CONNECT_TIMEOUT", 0.25),
        "socket_timeout": env_float("CACHE_TIMEOUT", 0.5),
    },
}
_LOCMEM_CACHE = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
CACHES = {
    # Rendered pages by content tag (core.cache says what each cache is for).
    "default": (_REDIS_CACHE if REDIS_URL else _LOCMEM_CACHE) | {"KEY_PREFIX": _CACHE_KEY_PREFIX},
    # Failure counters (accounts.throttle) and generations (core.cache) must be one for every
    # web process, or limits multiply and a revoked key lives on in another worker. Embedded,
    # local memory is per process, so they live in files under DATA_DIR, shared by the
    # web processes of `manage.py serve`.
    "shared": (
        _REDIS_CACHE
        if REDIS_URL
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "shared-cache"),
            # One file per entry; past this many, a third are dropped at random (a dropped
            # generation is created anew: a miss, never a stale answer).
            "OPTIONS": {"MAX_ENTRIES": 20000},
        }
    )
    | {"KEY_PREFIX": _CACHE_KEY_PREFIX},
}
# What each process keeps of the hot path (keys, repositories, pages) in its own memory, at
# most (core.cache); large pages are kept once in "default" instead.
LOCAL_CACHE_BYTES = env_int("LOCAL_CACHE_BYTES", 32 * 1024 * 1024)
# After a cache fails, it is left alone this long before it is tried again.
CACHE_RETRY_SECONDS = env_int("CACHE_RETRY_SECONDS", 5)
# The longest an entry of the hot path lives, which bounds how long a generation renewal lost
# to a fault (between a commit and the renewal) can leave an old answer in place.
HOT_CACHE_SECONDS = env_int("HOT_CACHE_SECONDS", 60)
# Downloads are counted in each process's memory (core.downloads) and added to daily rows
# (analytics) this often; a process that dies loses at most this long of counting.
DOWNLOAD_COUNTING = env_bool("DOWNLOAD_COUNTING", True)
DOWNLOAD_FLUSH_SECONDS = env_float("DOWNLOAD_FLUSH_SECONDS", 10)

# Storage ----------------------------------------------------------------------------------------

S3_BUCKET = env_str("S3_BUCKET")
S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL") or None
# Where clients reach S3 for presigned downloads, when it differs from the internal endpoint.
S3_PUBLIC_ENDPOINT_URL = env_str("S3_PUBLIC_ENDPOINT_URL") or S3_ENDPOINT_URL
S3_ACCESS_KEY_ID = env_str("S3_ACCESS_KEY_ID") or None
S3_SECRET_ACCESS_KEY = env_str("S3_SECRET_ACCESS_KEY") or None
S3_REGION = env_str("S3_REGION", "us-east-1")
# Downloads redirect to a URL valid this long; pip and uv follow it at once.
S3_PRESIGN_SECONDS = env_int("S3_PRESIGN_SECONDS", 300)
# Parts of one upload sent to S3 at once. A file on disk (every upload) is read as each part
# is sent, about 2 MB of memory per part in flight, whatever the file's size.
S3_UPLOAD_CONCURRENCY = env_int("S3_UPLOAD_CONCURRENCY", 4)
# Stored objects no row names, and unfinished S3 multipart uploads, are removed once this old
# (registry.reconcile). An upload in flight is never this old: its row commits within seconds.
STORAGE_ORPHAN_GRACE_SECONDS = env_int("STORAGE_ORPHAN_GRACE_SECONDS", 24 * 3600)


def _s3_client_config() -> Any:
    from botocore.config import Config  # noqa: PLC0415  (only S3 deployments load botocore)

    return Config(
        connect_timeout=env_float("S3_CONNECT_TIMEOUT", 5),
        read_timeout=env_float("S3_READ_TIMEOUT", 60),
        retries={"max_attempts": env_int("S3_MAX_ATTEMPTS", 3), "mode": "standard"},
        signature_version="s3v4",
        s3={"addressing_style": env_str("S3_ADDRESSING_STYLE", "path")},
    )


def _s3_transfer_config() -> Any:
    from boto3.s3.transfer import TransferConfig  # noqa: PLC0415  (only S3 deployments)

    config = TransferConfig(max_concurrency=S3_UPLOAD_CONCURRENCY)
    # A stream without a path (a proxy's download) is buffered a part (8 MB) at a time, up to
    # ten parts by default; two keep one part sending while the next is read.
    config.max_in_memory_upload_chunks = 2
    return config


def s3_packages_storage(
    *, bucket: str, endpoint_url: str | None, access_key: str | None, secret_key: str | None
) -> dict[str, Any]:
    """The packages storage on S3 (a function: the tests point it at their own server)."""
    return {
        # django-storages' S3Storage, sending uploads from their temporary file's path.
        "BACKEND": "registry.s3.PackagesS3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url,
            "access_key": access_key,
            "secret_key": secret_key,
            "region_name": S3_REGION,
            # Keys are content-addressed: the same key always holds the same bytes.
            "file_overwrite": True,
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": S3_PRESIGN_SECONDS,
            "addressing_style": env_str("S3_ADDRESSING_STYLE", "path"),
            "signature_version": "s3v4",
            # botocore waits a minute to connect by default: a storage outage must answer 503
            # in seconds, not hold a web worker (and the client) that long.
            "client_config": _s3_client_config(),
            "transfer_config": _s3_transfer_config(),
        },
    }


PACKAGES_STORAGE = (
    s3_packages_storage(
        bucket=S3_BUCKET,
        endpoint_url=S3_ENDPOINT_URL,
        access_key=S3_ACCESS_KEY_ID,
        secret_key=S3_SECRET_ACCESS_KEY,
    )
    if S3_BUCKET
    else {
        # Writes are atomic renames: a reader never sees half an upload.
        "BACKEND": "registry.storage.AtomicFileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "files"), "allow_overwrite": True},
    }
)
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "media")},
    },
    "packages": PACKAGES_STORAGE,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]

# Renames ----------------------------------------------------------------------------------------

# How long an organization's or repository's former slug keeps answering after a rename
# (accounts.models.OrganizationSlugAlias, registry.models.RepositorySlugAlias): installers get
# the same content there, people a redirect. Long enough for every CI secret to be updated.
SLUG_ALIAS_DAYS = env_int("SLUG_ALIAS_DAYS", 90)

# Uploads ----------------------------------------------------------------------------------------

# Per-repository limits can only lower this; it also bounds what the server buffers to disk.
MAX_UPLOAD_SIZE = env_int("MAX_UPLOAD_SIZE", 100 * 1024 * 1024)
# Long descriptions arrive as form fields; PyPI accepts a few MB of them.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
FILE_UPLOAD_TEMP_DIR = env_str("FILE_UPLOAD_TEMP_DIR") or None
# Seconds a client may send nothing in the middle of a request before the embedded web server
# (config/embedded.py) answers 408 and closes the connection; an idle keep-alive connection is
# closed after as long. Slow clients cost that server a socket each, never a thread, but one
# that stopped sending must not hold even that. docker-compose.yml's nginx does the same
# (client_body_timeout); gunicorn alone has no such timeout.
REQUEST_IDLE_TIMEOUT = env_int("REQUEST_IDLE_TIMEOUT", 60)

# Proxy repositories -----------------------------------------------------------------------------

# Bounds on every upstream request (registry.upstream): a slow upstream answers our client 504
# within about UPSTREAM_TIMEOUT, never hangs it.
UPSTREAM_CONNECT_TIMEOUT = env_int("UPSTREAM_CONNECT_TIMEOUT", 5)
UPSTREAM_TIMEOUT = env_int("UPSTREAM_TIMEOUT", 20)
# A whole file download from the upstream (the first download of a large wheel waits for it).
UPSTREAM_FILE_TIMEOUT = env_int("UPSTREAM_FILE_TIMEOUT", 600)
UPSTREAM_MAX_PAGE_SIZE = env_int("UPSTREAM_MAX_PAGE_SIZE", 64 * 1024 * 1024)
# The CA bundle upstream certificates are checked against (default: certifi's, as httpx's);
# SSL_CERT_FILE is honoured too, as by httpx and Python itself.
UPSTREAM_CA_BUNDLE = env_str("UPSTREAM_CA_BUNDLE") or env_str("SSL_CERT_FILE") or ""
# After a failure, a cached page is served stale without asking the upstream for this long.
UPSTREAM_RETRY_SECONDS = env_int("UPSTREAM_RETRY_SECONDS", 30)

# Trusted publishing -----------------------------------------------------------------------------

# The `aud` CI identity tokens must carry (GET /_/oidc/audience tells clients), by default this
# server's host name: a token requested for another registry is useless here.
OIDC_AUDIENCE = env_str("OIDC_AUDIENCE") or (urlsplit(PUBLIC_URL).hostname or "wheelhouse")
OIDC_GITHUB_ISSUER = env_str("OIDC_GITHUB_ISSUER", "https://token.actions.githubusercontent.com")
OIDC_GITLAB_ISSUER = env_str("OIDC_GITLAB_ISSUER", "https://gitlab.com")
# Issuers must be https. Only for tests that run their own issuer: plain http on a loopback
# address (127.0.0.1, ::1, localhost), nowhere else.
OIDC_ALLOW_INSECURE_LOOPBACK_ISSUERS = env_bool("OIDC_ALLOW_INSECURE_LOOPBACK_ISSUERS")
# An issuer's keys are fetched again after this long, or at once for a key id not yet seen
# (at most once per OIDC_JWKS_MIN_REFRESH, so made-up key ids cannot make us hammer it).
OIDC_JWKS_TTL = env_int("OIDC_JWKS_TTL", 600)
OIDC_JWKS_MIN_REFRESH = env_int("OIDC_JWKS_MIN_REFRESH", 30)
OIDC_HTTP_TIMEOUT = env_float("OIDC_HTTP_TIMEOUT", 5.0)
# Clock skew allowed between the issuer and us on exp, nbf and iat.
OIDC_LEEWAY = env_int("OIDC_LEEWAY", 30)
# The minted upload key's lifetime in seconds: 15 minutes, as on PyPI.
OIDC_TOKEN_LIFETIME = env_int("OIDC_TOKEN_LIFETIME", 900)

# REST API ---------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ApiKeyAuthentication",
        # Enforces CSRF, so a page elsewhere cannot make a logged-in browser call the API.
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasActor"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pages",
    "DEFAULT_SCHEMA_CLASS": "api.schema.ErrorDocumentingSchema",
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Wheelhouse API",
    "DESCRIPTION": "Organizations, repositories, keys, packages and the audit log of a "
    "Wheelhouse registry. Authenticate with `Authorization: Bearer <API key>` (keys read and "
    "upload, within their scope and repositories) or a logged-in session with a CSRF token "
    '(everything your role allows). Errors are `{"error": {"code", "message", "fields"}}`.',
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # The reference page's JavaScript and CSS come from this server, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Choice sets sharing a field name (`kind` of repositories and publishers, `status` of
    # files and projects): each gets its own name in the schema.
    "ENUM_NAME_OVERRIDES": {
        "RepositoryKindEnum": "registry.models.RepositoryKind",
        "PublisherKindEnum": "publishing.models.PublisherKind",
        "ProjectStatusEnum": "registry.models.ProjectStatus",
    },
}

# Celery -----------------------------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = DATA_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir / "control"),
        # The folder is polled (there is nothing to block on): kombu's default of 1 s made an
        # upload wait 0.5 s on average before the worker even saw it. A poll lists one small
        # folder: every 50 ms, the idle worker uses 0.4% of one core (0.1% at 1 s).
        "polling_interval": 0.05,
    }
    # kombu's folder transport, listing the folder once per batch of messages, not per message.
    CELERY_BROKER_TRANSPORT = "config.celery:FolderTransport"
else:
    # Longer than any task may run, or a slow task is handed to a second worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER")
# Deployments sharing one Redis keep their tasks apart by queue name.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "wheelhouse")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_TIME_LIMIT = 300
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker that lost its broker tries it again this often, for as long as it takes
# (config.celery.Consumer), so it is back within a second of the broker.
CELERY_WORKER_CONSUMER = "config.celery:Consumer"
BROKER_RECONNECT_SECONDS = env_float("BROKER_RECONNECT_SECONDS", 1.0)
CELERY_BEAT_SCHEDULE = {
    "requeue-pending-files": {
        "task": "uploads.tasks.requeue_pending_files_task",
        # Two queries and a look at the queue's length: cheap enough to run often, so a file
        # whose worker died is sent again within about FILE_CLAIM_SECONDS + this.
        "schedule": env_int("PENDING_SWEEP_SECONDS", 15),
    },
    # registry.reconcile: objects no row names, unfinished S3 multipart uploads. A run not
    # started within its interval (workers down) is dropped: the next one does the same work.
    # Former slugs past their SLUG_ALIAS_DAYS: they already answer nothing; this removes them.
    "expire-slug-aliases": {
        "task": "registry.tasks.slug_aliases_expire_task",
        "schedule": 3600,
        "options": {"expires": 3600},
    },
    "reconcile-storage": {
        "task": "registry.tasks.reconcile_storage_task",
        "schedule": env_int("STORAGE_RECONCILE_SECONDS", 3600),
        "options": {"expires": env_int("STORAGE_RECONCILE_SECONDS", 3600)},
    },
    # analytics.retention: each repository's retention policy, applied.
    "apply-retention-policies": {
        "task": "analytics.tasks.retention_apply_task",
        "schedule": env_int("RETENTION_SECONDS", 86400),
        "options": {"expires": env_int("RETENTION_SECONDS", 86400)},
    },
}
CELERY_BEAT_SCHEDULE["retry-webhook-deliveries"] = {
    # Deliveries whose next attempt is due and in no message (webhooks.tasks).
    "task": "webhooks.tasks.webhook_retry_due_task",
    "schedule": env_int("WEBHOOK_SWEEP_SECONDS", 60),
    "options": {"expires": env_int("WEBHOOK_SWEEP_SECONDS", 60)},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# The sweep takes a file for lost (and sends it again) only when it has waited unclaimed this
# long and more files wait than messages are queued (uploads.processing.lost_pending_file_ids).
PENDING_SWEEP_AFTER_SECONDS = env_int("PENDING_SWEEP_AFTER_SECONDS", 120)
# How long a worker owns a file it processes unless it renews the claim, which it does while
# reading the file (the long part); a worker that died loses its claim this soon, and the
# sweep hands the file to another. Should a live worker lose it (stuck this long without
# reading), a second one may take the file: both finish under the file's row lock, and only
# the first changes anything.
FILE_CLAIM_SECONDS = env_int("FILE_CLAIM_SECONDS", 30)

# Webhooks ---------------------------------------------------------------------------------------

# Whether webhooks may be sent to private, loopback and link-local addresses (10.x, 127.x,
# 169.254.169.254, ...). Off in production: a webhook URL is chosen by an organization's
# admins, and must never reach the deployment's own network (SSRF). On by default only in the
# embedded default (no DATABASE_URL: one machine, its receivers on localhost).
WEBHOOK_ALLOW_PRIVATE_TARGETS = env_bool(
    "WEBHOOK_ALLOW_PRIVATE_TARGETS", not env_str("DATABASE_URL")
)
WEBHOOK_CONNECT_TIMEOUT_SECONDS = env_float("WEBHOOK_CONNECT_TIMEOUT_SECONDS", 3)
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 10)
# A failed delivery is tried again after 30 s, 1 min, 2 min, ... doubling up to 3 hours, for
# a day after the first attempt (about 16 attempts); then it is marked failed.
WEBHOOK_RETRY_BASE_SECONDS = env_float("WEBHOOK_RETRY_BASE_SECONDS", 30)
WEBHOOK_RETRY_MAX_SECONDS = env_float("WEBHOOK_RETRY_MAX_SECONDS", 3 * 3600)
WEBHOOK_RETRY_WINDOW_SECONDS = env_float("WEBHOOK_RETRY_WINDOW_SECONDS", 24 * 3600)
# Retries due within this long wait in a Celery message (countdown); later ones are sent by
# the sweep, since a message held past the broker's visibility timeout is delivered twice.
WEBHOOK_ETA_MAX_SECONDS = env_float("WEBHOOK_ETA_MAX_SECONDS", 600)

# Security ---------------------------------------------------------------------------------------

SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG and PUBLIC_URL.startswith("https"))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if env_bool("BEHIND_TLS_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HTTPS-only deployments turn these on; the embedded default serves plain HTTP on localhost.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT")
# Load balancers probe over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD")
# Scripts and styles come only from the dashboard's own static files: no inline code runs.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    # README images may live anywhere; they can not run code.
    "img-src 'self' https: data:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])  # fmt: skip

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"botocore": {"level": "WARNING"}, "urllib3": {"level": "WARNING"}},
}
