"""Configuration classes. Environment variables override the defaults.

Pick a class with ``LEADFLOW_CONFIG`` (development, production, test); ``wsgi.py``
uses production unless told otherwise, ``make run`` uses development.
"""

import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("LEADFLOW_INSTANCE", BASE_DIR / "instance"))


def normalise_database_url(url: str) -> str:
    """Accept the common spellings of a PostgreSQL URL and use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = normalise_database_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'leadflow.sqlite3'}")
    )
    # SQLAlchemy's cache of compiled statements, per process: 65-75 KB a statement, kept up to
    # 1.5x this many (SQLAlchemy's default, 500, lets a worker grow by ~50 MB). Every page of the
    # app as an admin compiles about 175 statements, the same ones for any lead or search;
    # a statement compiled again after leaving the cache costs milliseconds.
    SQL_COMPILED_CACHE_SIZE = int(os.environ.get("SQL_COMPILED_CACHE_SIZE", "300"))
    # No pool_pre_ping: on PostgreSQL a connection the server closed is found without a round
    # trip (``leadflow.db.configure_postgresql_engine``); a SQLite file is never disconnected.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"query_cache_size": SQL_COMPILED_CACHE_SIZE}
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SQLITE_BUSY_TIMEOUT_MS = int(os.environ.get("SQLITE_BUSY_TIMEOUT_MS", "10000"))
    # SQLite: a thread of each process copies the WAL back into the database this often while
    # writes go on, instead of the commit that fills it (``leadflow.checkpoints``); 0: the commit.
    SQLITE_CHECKPOINT_SECONDS = float(os.environ.get("SQLITE_CHECKPOINT_SECONDS", "0.5"))
    # A request (or sweep) that meets a busy database runs again from the start, at most this
    # many times and, counting the waits between tries, for about this long; then 503.
    DB_BUSY_RETRY_ATTEMPTS = int(os.environ.get("DB_BUSY_RETRY_ATTEMPTS", "40"))
    DB_BUSY_RETRY_SECONDS = float(os.environ.get("DB_BUSY_RETRY_SECONDS", "20"))

    # Sessions and cookies.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    REMEMBER_COOKIE_DURATION = timedelta(days=30)
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    # Behind a reverse proxy that terminates HTTPS, trust one hop of X-Forwarded-*.
    TRUST_PROXY = _env_bool("TRUST_PROXY", False)
    # The proxy's address: `leadflow serve` trusts those headers only on its connections.
    TRUSTED_PROXY = os.environ.get("TRUSTED_PROXY", "127.0.0.1")

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", str(16 * 1024 * 1024)))

    # Rate limits (Flask-Limiter). Use redis://127.0.0.1:6379 when several processes serve.
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_HEADERS_ENABLED = False
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
    LOGIN_ACCOUNT_RATE_LIMIT = os.environ.get("LOGIN_ACCOUNT_RATE_LIMIT", "20 per hour")
    # The REST API: requests per token, and the largest request body it reads.
    API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "120 per minute")
    # Requests with a missing, unknown or revoked token, per client address.
    API_AUTH_FAILURE_RATE_LIMIT = os.environ.get("API_AUTH_FAILURE_RATE_LIMIT", "20 per minute")
    API_MAX_BODY_BYTES = int(os.environ.get("API_MAX_BODY_BYTES", str(1024 * 1024)))

    # Public capture forms (/f/<slug>): spam defences. Limits use the storage above.
    CAPTURE_MAX_BODY_BYTES = int(os.environ.get("CAPTURE_MAX_BODY_BYTES", str(64 * 1024)))
    CAPTURE_MIN_FILL_SECONDS = float(os.environ.get("CAPTURE_MIN_FILL_SECONDS", "3"))
    CAPTURE_TOKEN_MAX_AGE = int(os.environ.get("CAPTURE_TOKEN_MAX_AGE", str(24 * 3600)))
    # Unsubscribe links in sent e-mail work this long; after it the page asks for the address.
    UNSUBSCRIBE_LINK_MAX_AGE_DAYS = int(os.environ.get("UNSUBSCRIBE_LINK_MAX_AGE_DAYS", "365"))
    # Calendar apps fetch a feed every few minutes at most; guessing tokens needs far more.
    CALENDAR_FEED_RATE_LIMIT = os.environ.get("CALENDAR_FEED_RATE_LIMIT", "30 per minute; 600 per day")
    CAPTURE_RATE_LIMIT_PER_IP = os.environ.get("CAPTURE_RATE_LIMIT_PER_IP", "10 per minute; 100 per day")
    CAPTURE_RATE_LIMIT_PER_FORM = os.environ.get("CAPTURE_RATE_LIMIT_PER_FORM", "120 per minute")

    # Workspace defaults (editable in Settings; these seed the settings table).
    DEFAULT_PHONE_REGION = os.environ.get("DEFAULT_PHONE_REGION", "US")
    LEADS_PER_PAGE = 50
    TRASH_RETENTION_DAYS = 30

    # Workflow webhooks: addresses on private, loopback or link-local networks are refused
    # unless this is set (a self-hosted receiver on the same network).
    WEBHOOK_ALLOW_PRIVATE = _env_bool("WEBHOOK_ALLOW_PRIVATE", False)
    WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("WEBHOOK_TIMEOUT_SECONDS", "5"))

    SCHEDULER_ENABLED = _env_bool("SCHEDULER_ENABLED", True)
    # /healthz answers 503 without a fresh heartbeat of some scheduler process (any node's).
    HEALTHZ_EXPECT_SCHEDULER = _env_bool("HEALTHZ_EXPECT_SCHEDULER", True)
    # The longest any sweep waits between runs (a sweep may ask for less); at most 30 s.
    SCHEDULER_TICK_SECONDS = min(30, max(1, int(os.environ.get("SCHEDULER_TICK_SECONDS", "30"))))

    # Outgoing e-mail. With no SMTP_HOST, messages are kept in Settings → Outbox and go
    # out once a server is configured. Port 465 means TLS from the start; otherwise
    # SMTP_STARTTLS upgrades the connection.
    SMTP_HOST = os.environ.get("SMTP_HOST") or None
    SMTP_PORT = int(os.environ.get("SMTP_PORT", "587"))
    SMTP_USER = os.environ.get("SMTP_USER") or None
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD") or None
    SMTP_STARTTLS = _env_bool("SMTP_STARTTLS", True)
    SMTP_TIMEOUT_SECONDS = float(os.environ.get("SMTP_TIMEOUT_SECONDS", "20"))
    # How long recording a sent message is retried while the database refuses the write; after
    # that the message is left "not confirmed" (never sent again by itself).
    OUTBOX_RECORD_RETRY_SECONDS = float(os.environ.get("OUTBOX_RECORD_RETRY_SECONDS", "300"))
    MAIL_FROM = os.environ.get("MAIL_FROM", "LeadFlow <leadflow@localhost>")
    # Links in e-mails point here (the address people open LeadFlow at).
    BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:5000")

    # CSV imports: the largest file accepted.
    IMPORT_MAX_BYTES = int(os.environ.get("IMPORT_MAX_BYTES", str(64 * 1024 * 1024)))
    # Long work (an import, its undo, "Rescore all leads") runs where it is started, before the
    # request returns (tests, scripts), instead of in the scheduler (``leadflow.jobs``).
    JOBS_RUN_INLINE = _env_bool("JOBS_RUN_INLINE", False)
    # A lead-list export of up to this many rows is streamed as it is read; a longer one is
    # written into the database by a job and downloaded when done (kept EXPORT_KEEP_DAYS days).
    EXPORT_STREAM_MAX_ROWS = int(os.environ.get("EXPORT_STREAM_MAX_ROWS", "5000"))
    EXPORT_KEEP_DAYS = int(os.environ.get("EXPORT_KEEP_DAYS", "7"))


class DevelopmentConfig(Config):
    DEBUG = False
    # Without SECRET_KEY, a random key made once and kept in the instance folder (mode 0600).
    SECRET_KEY_FILE = "secret_key"


class ProductionConfig(Config):
    # A key under 32 bytes or a published one (see leadflow.secret_key) stops the app.
    SECRET_KEY_STRICT = True


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key"
    SQLALCHEMY_DATABASE_URI = normalise_database_url(
        os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL") or "sqlite://"
    )
    RATELIMIT_ENABLED = False
    RATELIMIT_STORAGE_URI = "memory://"
    SCHEDULER_ENABLED = False
    HEALTHZ_EXPECT_SCHEDULER = False  # no scheduler runs in tests unless one starts it
    SMTP_HOST = None  # tests that send start their own SMTP server on loopback
    SMTP_USER = SMTP_PASSWORD = None
    # A new lead's routing, scoring and alerts run right after the request's commit, in its thread.
    ARRIVALS_RUN_INLINE = True
    JOBS_RUN_INLINE = True  # an import or a rescore finishes before the request that starts it returns
    # Any write of leads, stage history or stage totals from outside the lead store fails the test.
    LEAD_STORE_GUARD = True
    # argon2 at full cost makes every test login slow; tests use the cheapest valid parameters.
    ARGON2_FAST = True


CONFIGS = {
    "development": DevelopmentConfig,
    "production": ProductionConfig,
    "test": TestConfig,
}
