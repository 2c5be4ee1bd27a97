"""Settings for the LeadPing Event Desk, read from environment variables (see .env.example)."""

import os
import re
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from leadping_web.env import (
    env_bool,
    env_choice,
    env_float,
    env_hosts,
    env_int,
    env_list,
    env_secret,
    env_str,
    env_time_zone,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("LEADPING_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)


def _secret_key() -> str:
    """DJANGO_SECRET_KEY, else a random key kept in var/secret_key so sessions survive restarts."""
    configured = env_str("DJANGO_SECRET_KEY")
    if configured:
        if len(configured) < 32:
            raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 32 characters long.")
        return configured
    key_file = VAR_DIR / "secret_key"
    try:
        if not key_file.exists():
            _make_var_dir()
            key_file.touch(mode=0o600)
            key_file.write_text(secrets.token_urlsafe(50))
        return key_file.read_text().strip()
    except OSError as error:
        raise _var_dir_unusable(error, "or set DJANGO_SECRET_KEY") from None


def _make_var_dir() -> None:
    # The SQLite database (password hashes, sessions) is made here: the desk's only.
    VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)


def _var_dir_unusable(error: OSError, way_out: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(
        f"LEADPING_VAR_DIR ({VAR_DIR}) must be a folder the desk can write to "
        f"({error.strerror or error}), {way_out}."
    )


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_hosts("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # First, so that its createsuperuser (the same, refusing case variants) is the one run.
    "events",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "axes",
]

MIDDLEWARE = [
    # Outermost: it empties a HEAD answer once every other middleware has made it.
    "events.middleware.HeadWithoutBodyMiddleware",
    # First, so that every later log line (and the LeadPing call) carries the request's ID.
    "events.request_ids.RequestIdMiddleware",
    # The audit row and counters of a request are written right after its response is sent.
    "events.after_response.AfterResponseMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Outside every middleware that can refuse a request (CommonMiddleware's forged Host
    # header, CSRF): their error pages carry the frame and content policies too.
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    # Pages and fragments go out gzipped (static files are pre-compressed by WhiteNoise);
    # Django pads compressed responses against BREACH.
    "django.middleware.gzip.GZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's, reading each user and their permissions from a per-process copy kept for
    # LOCAL_COPY_SECONDS while it matches the session (events/auth_cache.py).
    "events.auth_cache.CachedAuthenticationMiddleware",
    # No browser or proxy keeps a logged-in user's pages, unless the view says otherwise.
    "events.middleware.PrivatePagesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "events.middleware.PreferencesMiddleware",
    "events.middleware.AdminQueryGuardMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "leadping_web.urls"
WSGI_APPLICATION = "leadping_web.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "events.context_processors.desk",
                "events.request_ids.request_id",
            ],
        },
    },
]


def _database() -> dict:
    """DATABASE_URL (default: SQLite in the var dir); a malformed one stops the desk with a
    message naming it, without echoing the URL (it may hold a password)."""
    if not env_str("DATABASE_URL"):
        # The default SQLite file: its folder must exist, a secret key given or not.
        try:
            _make_var_dir()
        except OSError as error:
            raise _var_dir_unusable(error, "or set DATABASE_URL") from None
    try:
        return dj_database_url.parse(
            env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
            conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0, maximum=3600),
            conn_health_checks=True,
        )
    except ValueError:
        raise ImproperlyConfigured(
            "DATABASE_URL must be a database URL such as postgres://user@host:5432/name or "
            "sqlite:////absolute/path/db.sqlite3 (with special characters percent-encoded)."
        ) from None


DATABASES = {"default": _database()}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Many threads write audit rows at once: wait for the write lock instead of failing,
    # and let readers run beside the writer (WAL).
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests use a file too: in-memory shared-cache SQLite fails concurrent writers at once
    # ("table is locked") where a real file waits, and the audit trail is tested under threads.
    # One file per test process, so that parallel runs never share one.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Local memory by default (one process); Redis, shared by every process and host, when set.
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(
        "REDIS_URL must start with redis://, rediss:// or unix:// (such as "
        "redis://127.0.0.1:6379/0)."
    )
if REDIS_URL and REDIS_URL.startswith(("redis://", "rediss://")):
    # redis-py reads "/abc" as database 0 and a missing host as localhost, without a word.
    _redis_parts = urlsplit(REDIS_URL)
    if not _redis_parts.hostname or not re.fullmatch(r"/?|/\d+", _redis_parts.path):
        raise ImproperlyConfigured(
            "REDIS_URL must name a host and, if any, a database number (such as "
            "redis://127.0.0.1:6379/0)."
        )
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "leadping_web.redis_cache.RedisCache",
            "LOCATION": REDIS_URL,
            # Desks sharing one Redis (staging beside production…) each need their own.
            "KEY_PREFIX": env_str("REDIS_KEY_PREFIX", "desk"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
    }
else:
    CACHES = {
        "default": {
            # LeadPing's answers are a few KB, but may be megabytes: bounded in bytes too.
            "BACKEND": "leadping_web.local_cache.BoundedLocMemCache",
            "LOCATION": "leadping-desk",
            "KEY_PREFIX": "desk",
            "OPTIONS": {"MAX_ENTRIES": 20000, "MAX_BYTES": 128 * 2**20},
        },
    }

# Event pages' HTML as rendered for one LeadPing answer ({% cache %} in event_detail.html),
# kept apart so that pages never evict answers. Always local memory, even with Redis: a
# fragment's key holds a digest of the answer it shows, so it never goes out of date and
# each process may keep its own copy, read without a network round trip.
CACHES["fragments"] = {
    "BACKEND": "leadping_web.local_cache.BoundedLocMemCache",
    "LOCATION": "leadping-desk-fragments",
    "KEY_PREFIX": "desk-html",
    # A rendered event is a few to a few hundred KB.
    "OPTIONS": {"MAX_ENTRIES": 600, "MAX_BYTES": 32 * 2**20},
}

# How long a process may keep its own copy of a login (session) and of a user with their
# permissions: a logout, deactivation or change of role made in another gunicorn worker or
# instance applies here within this many seconds (in the process that made it, at once).
LOCAL_COPY_SECONDS = 5

# Sessions are "cached_db": written to the database, read from a per-process copy kept for
# LOCAL_COPY_SECONDS (a page then costs no query and no round trip for its login). Redis is
# not used for them: a Redis flush, eviction or restart must log nobody out.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_CACHE_ALIAS = "sessions"
CACHES["sessions"] = {
    "BACKEND": "leadping_web.local_cache.ShortLivedLocMemCache",
    "LOCATION": "leadping-desk-sessions",
    "KEY_PREFIX": "desk-session",
    "OPTIONS": {"MAX_ENTRIES": 5000, "MAX_TIMEOUT": LOCAL_COPY_SECONDS},
}
# Users and their permissions, read by events.auth_cache.CachedAuthenticationMiddleware.
CACHES["users"] = {
    "BACKEND": "leadping_web.local_cache.ShortLivedLocMemCache",
    "LOCATION": "leadping-desk-users",
    "KEY_PREFIX": "desk-user",
    "OPTIONS": {"MAX_ENTRIES": 2000, "MAX_TIMEOUT": LOCAL_COPY_SECONDS},
}

AUTHENTICATION_BACKENDS = [
    # First, so that a locked-out username/IP pair is refused before any password check.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling: after AXES_FAILURE_LIMIT failures for one username from one address,
# that pair is locked out for AXES_COOLOFF_MINUTES (a team admin can unlock it in the admin).
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1, maximum=100)
AXES_COOLOFF_TIME = timedelta(
    minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1, maximum=7 * 24 * 60)
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# That template, rendered with a Retry-After header.
AXES_LOCKOUT_CALLABLE = "events.access.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# The username as typed, cut to the 255 characters of axes' columns: a longer one made
# PostgreSQL refuse the failure's row, a 500 on the login form.
AXES_USERNAME_CALLABLE = "events.access.axes_username"
# The client's address, behind TRUSTED_PROXY_COUNT proxies too (events.access.client_ip).
AXES_CLIENT_IP_CALLABLE = "events.access.client_ip"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "events:lookup"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_time_zone("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Scripts load by nonce only; htmx is configured (base.html) to inject no inline styles.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
# HTTPS-only protections: on by default in production (DEBUG off), each switchable so that
# benchmarks and probes can run production settings over plain HTTP on loopback (`make run`
# turns them off for its local, loopback-only desk).
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int(
    "DJANGO_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0, maximum=2 * 31536000
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
_proxy_ssl_header = env_list("DJANGO_SECURE_PROXY_SSL_HEADER", [])
if _proxy_ssl_header:
    if len(_proxy_ssl_header) != 2:
        raise ImproperlyConfigured(
            "DJANGO_SECURE_PROXY_SSL_HEADER must be HEADER,value such as "
            "HTTP_X_FORWARDED_PROTO,https."
        )
    # Django reads the header from request.META: "X-Forwarded-Proto" is HTTP_X_FORWARDED_PROTO
    # there, and as written it would never match (every request redirected to HTTPS again).
    _header = _proxy_ssl_header[0].upper().replace("-", "_")
    _header = _header if _header.startswith("HTTP_") else f"HTTP_{_header}"
    if not re.fullmatch(r"HTTP_[A-Z0-9_]+", _header):
        raise ImproperlyConfigured(
            "DJANGO_SECURE_PROXY_SSL_HEADER must name a header, such as "
            "HTTP_X_FORWARDED_PROTO,https."
        )
    SECURE_PROXY_SSL_HEADER = (_header, _proxy_ssl_header[1])
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int(
    "DJANGO_SESSION_AGE", 60 * 60 * 12, minimum=300, maximum=60 * 60 * 24 * 30
)

# Every line carries the request's ID ("-" outside a request); credentials are redacted.
LOG_FORMAT = env_choice("DJANGO_LOG_FORMAT", "plain", ("plain", "json"))
_LOG_LEVEL = env_choice(
    "DJANGO_LOG_LEVEL", "info", ("debug", "info", "warning", "error", "critical")
).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "events.logs.RequestIdFilter"},
        "client_fault": {"()": "events.logs.ClientFaultFilter"},
    },
    "formatters": {
        "plain": {
            "()": "events.logs.PlainFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s",
        },
        "json": {"()": "events.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "client_fault"],
        }
    },
    "root": {"handlers": ["console"], "level": _LOG_LEVEL},
    "loggers": {"django.server": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# --- LeadPing -----------------------------------------------------------------------------
# Without an API key the desk runs against the built-in sandbox (python manage.py
# leadping_sandbox), which accepts only the sandbox key below.
LEADPING_SANDBOX_PORT = env_int("LEADPING_SANDBOX_PORT", 8765, minimum=1, maximum=65535)
LEADPING_SANDBOX_KEY = "lp_sandbox_demo_key"
LEADPING_SANDBOX_URL = f"http://127.0.0.1:{LEADPING_SANDBOX_PORT}"
LEADPING_API_KEY = env_secret("LEADPING_API_KEY")
LEADPING_SANDBOX = LEADPING_API_KEY is None
if LEADPING_SANDBOX:
    LEADPING_API_KEY = LEADPING_SANDBOX_KEY
LEADPING_API_BASE_URL = env_url(
    "LEADPING_API_BASE_URL",
    LEADPING_SANDBOX_URL if LEADPING_SANDBOX else "https://api.leadping.ai",
)
LEADPING_CONNECT_TIMEOUT = env_float("LEADPING_CONNECT_TIMEOUT", 3.05, minimum=0.1, maximum=30)
LEADPING_READ_TIMEOUT = env_float("LEADPING_READ_TIMEOUT", 5.0, minimum=0.1, maximum=60)
LEADPING_POLL_SECONDS = env_int("LEADPING_POLL_SECONDS", 5, minimum=2, maximum=300)
# The upstream budget (see events/services.py and events/upstream.py).
LEADPING_REQUEST_DEADLINE = env_float("LEADPING_REQUEST_DEADLINE", 8.0, minimum=1, maximum=60)
LEADPING_MAX_RETRIES = env_int("LEADPING_MAX_RETRIES", 2, minimum=0, maximum=5)
LEADPING_CACHE_LIVE_SECONDS = env_float(
    "LEADPING_CACHE_LIVE_SECONDS", LEADPING_POLL_SECONDS, minimum=0.5, maximum=300
)
# A live event whose answer has not changed for a while is asked less often, up to this.
LEADPING_CACHE_QUIET_SECONDS = env_float(
    "LEADPING_CACHE_QUIET_SECONDS", 60, minimum=0.5, maximum=3600
)
LEADPING_CACHE_FINAL_SECONDS = env_int(
    "LEADPING_CACHE_FINAL_SECONDS", 600, minimum=1, maximum=86400
)
LEADPING_CACHE_MISSING_SECONDS = env_int(
    "LEADPING_CACHE_MISSING_SECONDS", 15, minimum=0, maximum=3600
)
LEADPING_STALE_SECONDS = env_int("LEADPING_STALE_SECONDS", 3600, minimum=0, maximum=7 * 86400)
LEADPING_COALESCE_WAIT_SECONDS = env_float(
    "LEADPING_COALESCE_WAIT_SECONDS", 5.0, minimum=0.1, maximum=60
)
# How many requests of one process may wait on LeadPing at once (calling it, or waiting for
# another request's call); the rest get the last copy or "busy" at once. Leaves threads for
# health checks, cached pages and polls when LeadPing is slow: by default all of gunicorn's
# threads but four (leadping_web/gunicorn.conf.py reads the same GUNICORN_THREADS).
LEADPING_MAX_WAITING = env_int(
    "LEADPING_MAX_WAITING",
    max(1, env_int("GUNICORN_THREADS", 16, minimum=1, maximum=256) - 4),
    minimum=1,
    maximum=1000,
)
LEADPING_BUDGET_CALLS = env_int("LEADPING_BUDGET_CALLS", 240, minimum=1, maximum=100000)
LEADPING_BUDGET_SECONDS = env_int("LEADPING_BUDGET_SECONDS", 60, minimum=1, maximum=3600)
# The burst is spent first and the rest of CALLS refills over SECONDS (events/upstream.py):
# a tenth of a small budget by default, so that most of it comes steadily.
LEADPING_BUDGET_BURST = env_int(
    "LEADPING_BUDGET_BURST",
    max(1, min(20, LEADPING_BUDGET_CALLS // 10)),
    minimum=1,
    maximum=100000,
)
# Tokens of the burst that refreshes of events the desk already shows leave to first
# lookups, which have nothing else to show (at most BURST - 1: events/upstream.py).
LEADPING_BUDGET_RESERVE = env_int(
    "LEADPING_BUDGET_RESERVE", LEADPING_BUDGET_BURST // 4, minimum=0, maximum=100000
)
LEADPING_BACKOFF_MAX_SECONDS = env_int("LEADPING_BACKOFF_MAX_SECONDS", 60, minimum=1, maximum=3600)
LEADPING_DEFAULT_REGION = (env_str("LEADPING_DEFAULT_REGION", "US") or "US").upper()

# How long lookup audit rows are kept (python manage.py prune_lookup_audit deletes older ones).
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 365, minimum=1, maximum=36500)

# --- Operations (README, "Running in production") -----------------------------------------
# Take X-Request-ID from the client only behind a proxy that sets (or strips) it itself.
TRUST_REQUEST_ID_HEADER = env_bool("TRUST_REQUEST_ID_HEADER", False)
# How many proxies in front of the desk add the address they were reached from to
# X-Forwarded-For (nginx's $proxy_add_x_forwarded_for, a cloud load balancer): the client's
# address, for login lockouts and the audit trail, is the one the outermost of them saw.
# 0: the peer's address (behind a proxy, that is the proxy's, the same for everyone).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0, maximum=10)
# Bearer token for /metrics (staff logins may read it too); unset: staff logins only.
METRICS_TOKEN = env_secret("METRICS_TOKEN")
if METRICS_TOKEN is not None and len(METRICS_TOKEN) < 16:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 16 characters long.")
# Probes and scrapers talk to an instance's own port over plain HTTP, not through the proxy.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
