"""The key that signs sessions and CSRF tokens: where it comes from, and which keys are refused.

- ``SECRET_KEY`` in the environment always wins;
- development (``make run``) without one makes a random key once and keeps it in the
  instance folder (``secret_key``, readable by its owner only), so sessions survive a
  restart and no two installs share a key;
- production refuses a key shorter than 32 bytes or one that is published (the old
  development default, the test key): anyone could sign a session cookie with it.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

MIN_KEY_BYTES = 32
# Keys printed in this repository or its history: signing with one of them is signing with none.
KNOWN_KEYS = frozenset({"dev-only-not-secret-change-me", "test-secret-key", "change-me", "changeme", "secret"})


class SecretKeyError(RuntimeError):
    """The app cannot start with this key; the message says what to do."""


def key_problem(key: str | bytes) -> str | None:
    """Why ``key`` may not sign production sessions, or None when it may."""
    text = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
    if text.strip().lower() in KNOWN_KEYS:
        return "SECRET_KEY is a published example key; anyone could forge a session with it."
    size = len(key if isinstance(key, bytes) else key.encode("utf-8"))
    if size < MIN_KEY_BYTES:
        return f"SECRET_KEY is {size} bytes long; use at least {MIN_KEY_BYTES}."
    return None


def instance_key(path: Path) -> str:
    """The key kept at ``path``, made (random, mode 0600) the first time."""
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key


def only_showing_help() -> bool:
    """``flask --app wsgi … --help``: the CLI builds the app to list its commands but runs
    none, so a missing key need not stop it."""
    return os.environ.get("FLASK_RUN_FROM_CLI") == "true" and "--help" in sys.argv[1:]


def resolve_secret_key(config, instance_path: str) -> str | bytes | None:
    """The key the app signs with, or SecretKeyError saying why it cannot start."""
    key = config.get("SECRET_KEY")
    if not key and config.get("SECRET_KEY_FILE"):
        return instance_key(Path(instance_path) / config["SECRET_KEY_FILE"])
    if only_showing_help():
        return key
    if not key:
        raise SecretKeyError(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable to a long random value, "
            'e.g. python3 -c "import secrets; print(secrets.token_hex(32))" '
            "(outside development it is required)."
        )
    if config.get("SECRET_KEY_STRICT"):
        problem = key_problem(key)
        if problem:
            raise SecretKeyError(
                f"{problem} Refusing to start in production. Generate one with "
                'python3 -c "import secrets; print(secrets.token_hex(32))".'
            )
    return key
