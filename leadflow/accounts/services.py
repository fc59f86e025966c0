"""Users, passwords and sessions."""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import lru_cache
from typing import NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app
from sqlalchemy import Text, cast, func, inspect, literal_column

from leadflow.accounts.models import ROLES, Team, User
from leadflow.db import (RidingCheck, held_as_loaded, riding_check, riding_checks_allowed,
                         riding_checks_supported, utcnow)
from leadflow.errors import ValidationFailed
from leadflow.extensions import db
from leadflow.governance.audit import record_changes
from leadflow.web import refcache

MIN_PASSWORD_LENGTH = 12
# Long pass phrases are welcome; past this a password is refused with a message (and a
# sign-in with one fails at once), so no request can make the server hash megabytes.
MAX_PASSWORD_LENGTH = 1024
# The strength checker (zxcvbn) refuses longer input; a phrase is judged by its start.
STRENGTH_CHECK_LENGTH = 72

_hasher = PasswordHasher()
_fast_hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
_dummy_hashes: dict[int, str] = {}


def _active_hasher() -> PasswordHasher:
    try:
        fast = current_app.config.get("ARGON2_FAST", False)
    except RuntimeError:
        fast = False
    return _fast_hasher if fast else _hasher


def _dummy_hash() -> str:
    """A hash to verify against when the account does not exist, so both paths cost the
    same. Made on first use (not at import: it costs as much as a sign-in)."""
    hasher = _active_hasher()
    key = id(hasher)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = hasher.hash("not-a-real-password-for-timing")
    return _dummy_hashes[key]


def hash_password(password: str) -> str:
    return _active_hasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    if len(password) > MAX_PASSWORD_LENGTH:  # no password this long can be set: never hash it
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problems(password: str, user_inputs: list[str] | None = None) -> list[str]:
    """Why a new password is refused, or an empty list when it is fine."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return [f"Use at least {MIN_PASSWORD_LENGTH} characters."]
    if len(password) > MAX_PASSWORD_LENGTH:
        return [f"Use at most {MAX_PASSWORD_LENGTH} characters."]
    # Imported here: its word lists take 12 MB, which a worker that never sets a password
    # need not hold (``bench/bench_memory.py``).
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:STRENGTH_CHECK_LENGTH], user_inputs=_personal_words(user_inputs or []))
    if result["score"] < 3:
        warning = result["feedback"].get("warning") or ""
        message = "This password is too common or too easy to guess."
        if warning:
            message += f" {warning.rstrip('.')}."
        return [message + " Try a longer phrase of unrelated words."]
    return []


def _personal_words(values: list[str]) -> list[str]:
    """The user's email and name, whole and in pieces, for the guessability check:
    ``ada.lovelace@example.com`` gives ``ada.lovelace``, ``ada``, ``lovelace``, ``example``..."""
    import re

    words: list[str] = []
    for value in values:
        value = (value or "").strip().lower()
        if not value:
            continue
        local = value.split("@", 1)[0]
        words += [value, local, *re.split(r"[^a-z0-9]+", value)]
    return [w for w in dict.fromkeys(words) if len(w) >= 3]


def normalise_account_email(email: str) -> str:
    from email_validator import EmailNotValidError, validate_email  # as leads.fields.normalise_email

    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed({"email": [str(exc)]}) from exc


def timezone_problems(name: str) -> list[str]:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ["Unknown timezone. Use a name such as Europe/Berlin or America/New_York."]
    return []


def team_names() -> list[str]:
    """The teams a user can be put in, by name (what the team box offers)."""
    return list(db.session.scalars(db.select(Team.name).order_by(Team.name)))


def find_or_create_team(name: str | None) -> Team | None:
    name = (name or "").strip()
    if not name:
        return None
    team = db.session.scalar(db.select(Team).where(db.func.lower(Team.name) == name.lower()))
    if team is None:
        team = Team(name=name)
        db.session.add(team)
        db.session.flush()
    return team


def create_user(*, email: str, password: str, role: str, name: str | None = None,
                team: str | None = None, timezone: str = "UTC") -> User:
    errors: dict[str, list[str]] = {}
    try:
        email = normalise_account_email(email)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if role not in ROLES:
        errors["role"] = [f"Role must be one of: {', '.join(ROLES)}."]
    problems = password_problems(password, [email, name or ""])
    if problems:
        errors["password"] = problems
    if "email" not in errors and db.session.scalar(db.select(User.id).where(User.email == email)):
        errors["email"] = ["A user with this email already exists."]
    if timezone_problems(timezone):
        errors["timezone"] = timezone_problems(timezone)
    if errors:
        raise ValidationFailed(errors)
    user = User(
        email=email,
        name=(name or email.split("@")[0]).strip()[:120],
        password_hash=hash_password(password),
        role=role,
        team=find_or_create_team(team),
        timezone=timezone,
    )
    db.session.add(user)
    db.session.flush()
    return user


def authenticate(email: str, password: str) -> User | None:
    """The user for these credentials, or None. Same work whether or not the account exists."""
    key = (email or "").strip().lower()
    user = db.session.scalar(db.select(User).where(User.email == key)) if key else None
    if user is None:
        verify_password(_dummy_hash(), password or "")
        return None
    if not verify_password(user.password_hash, password or "") or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash) and not current_app.config.get("ARGON2_FAST"):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return user


def load_session_user(session_id: str) -> User | None:
    """Flask-Login's loader: the id carries the session version, so a bump ends old sessions."""
    try:
        user_id, version = (int(part) for part in session_id.split(":", 1))
    except (ValueError, AttributeError):
        return None
    if db.engine.dialect.name == "postgresql":
        user = _session_user_on_postgresql(user_id, version)
    else:
        # the page's reference data is then checked without a query of its own
        user = refcache.first_noting_versions(_SESSION_USER, {"user_id": user_id})
    if user is None or not user.active or user.session_version != version:
        return None
    return user


# The signed-in user with the reference versions: one statement at the start of each request.
_SESSION_USER = db.select(User, refcache.versions_column()).where(User.id == db.bindparam("user_id"))

# PostgreSQL: the same, with a fingerprint of the user's whole row (every column, as text).
_ROW_FINGERPRINT = func.md5(cast(literal_column("users"), Text))
_SESSION_USER_PG = _SESSION_USER.add_columns(_ROW_FINGERPRINT)
_SESSION_USER_CHECK = db.select(_ROW_FINGERPRINT, refcache.versions_column()).where(User.id == db.bindparam("user_id"))

# The signed-in users as this process last read them on PostgreSQL, by (database, user id): the
# row's columns, the reference versions and the row's fingerprint. A round trip costs a page
# of one or two statements a third of its time there (0.1-0.3 ms, more on a busy machine; a
# statement on SQLite costs 0.01 ms), so a request starts from the row kept here, and the
# database confirms the fingerprint and the versions in the round trip of the request's first
# statement that only reads (with its transaction's BEGIN, for a request that writes), before
# its rows are used (``RidingCheck``). Before the request writes or answers, the check has
# passed; if the row changed (a deactivation, a bumped session version, any edit), or the
# versions changed after the request used them, the request's transaction is rolled back and
# it runs again from the start, reading the user as before (a form's fields, an upload and a
# JSON body are kept by the request, so the second run reads them again). Kept for the most
# recent users only.
_SEEN: OrderedDict[tuple, tuple[dict, str, str]] = OrderedDict()
_SEEN_MAX = 1024
_seen_lock = threading.Lock()


def _session_user_on_postgresql(user_id: int, version: int) -> User | None:
    key = (db.engine.url, user_id)
    if riding_checks_allowed.get() and riding_checks_supported():
        with _seen_lock:
            seen = _SEEN.get(key)
        if seen is not None and seen[0]["active"] and seen[0]["session_version"] == version:
            columns, versions, fingerprint = seen
            db.session.connection()  # the transaction the versions are noted for (PostgreSQL: no round trip)
            refcache.note_versions(versions)
            sql, fixed = _check_statement(db.engine.dialect)
            riding_check.set(RidingCheck(db.engine, sql, {**fixed, "user_id": user_id}, (fingerprint, versions),
                                         adopt=lambda row: row[0] == fingerprint and refcache.adopt_versions(row[1])))
            return held_as_loaded(User, columns)
    found = db.session.execute(_SESSION_USER_PG, {"user_id": user_id}).first()
    if found is None:
        with _seen_lock:
            _SEEN.pop(key, None)
        return None
    user, versions, fingerprint = found
    refcache.note_versions(versions)
    if not inspect(user).modified:  # the row as the database holds it
        columns = {prop.columns[0].name: getattr(user, prop.key) for prop in User.__mapper__.column_attrs}
        with _seen_lock:
            _SEEN[key] = (columns, versions, fingerprint)
            _SEEN.move_to_end(key)
            while len(_SEEN) > _SEEN_MAX:
                _SEEN.popitem(last=False)
    return user


@lru_cache(maxsize=None)
def _check_statement(dialect) -> tuple[str, dict]:
    """``_SESSION_USER_CHECK`` as the driver runs it: its text, and its fixed parameters."""
    compiled = _SESSION_USER_CHECK.compile(dialect=dialect)
    return str(compiled), {name: value for name, value in compiled.params.items() if name != "user_id"}


def end_all_sessions(user: User) -> None:
    """Bump the session version in the database (atomically, so two bumps at once both count)."""
    user.session_version = User.session_version + 1


def change_password(user: User, current_password: str, new_password: str) -> None:
    errors: dict[str, list[str]] = {}
    if not verify_password(user.password_hash, current_password or ""):
        errors["current_password"] = ["The current password is not correct."]
    problems = password_problems(new_password, [user.email, user.name])
    if problems:
        errors["new_password"] = problems
    if errors:
        raise ValidationFailed(errors)
    set_password(user, new_password)


def set_password(user: User, new_password: str) -> None:
    problems = password_problems(new_password, [user.email, user.name])
    if problems:
        raise ValidationFailed({"password": problems})
    user.password_hash = hash_password(new_password)
    end_all_sessions(user)


def update_user(actor: User, user: User, *, name: str, role: str, team: str | None,
                active: bool, timezone: str) -> None:
    errors: dict[str, list[str]] = {}
    if role not in ROLES:
        errors["role"] = [f"Role must be one of: {', '.join(ROLES)}."]
    if user.id == actor.id and (role != "admin" or not active):
        errors["role"] = ["You cannot remove your own admin role or deactivate yourself."]
    if not name.strip():
        errors["name"] = ["Enter a name."]
    if timezone_problems(timezone):
        errors["timezone"] = timezone_problems(timezone)
    if errors:
        raise ValidationFailed(errors)
    before = {"name": user.name, "role": user.role, "team": user.team.name if user.team else None,
              "active": user.active, "timezone": user.timezone}
    user.name = name.strip()[:120]
    user.role = role
    user.team = find_or_create_team(team)
    user.timezone = timezone
    if user.active and not active:
        end_all_sessions(user)
    user.active = active
    after = {"name": user.name, "role": user.role, "team": user.team.name if user.team else None,
             "active": user.active, "timezone": user.timezone}
    record_changes(actor, "user", user.id, before, after)


def set_routing_limits(actor: User, user: User, *, out_of_office_until, max_open_leads: int | None,
                       zone=None) -> None:
    """When routing should skip ``user``: away until a time (a naive time is read in ``zone``,
    UTC when not given), or at a cap. A time given to the minute of the stored one keeps it."""
    from datetime import timezone as tz

    if out_of_office_until is not None and out_of_office_until.tzinfo is None:
        out_of_office_until = out_of_office_until.replace(tzinfo=zone or tz.utc)
    stored = user.out_of_office_until
    if out_of_office_until is not None and stored is not None and \
            out_of_office_until == stored.replace(second=0, microsecond=0):
        out_of_office_until = stored
    if max_open_leads is not None and max_open_leads < 0:
        raise ValidationFailed({"max_open_leads": ["Enter a whole number from 0 up, or leave empty for no cap."]})
    before = {"out_of_office_until": user.out_of_office_until, "max_open_leads": user.max_open_leads}
    user.out_of_office_until = out_of_office_until
    user.max_open_leads = max_open_leads
    record_changes(actor, "user", user.id, before,
                   {"out_of_office_until": out_of_office_until, "max_open_leads": max_open_leads})



# --- people and teams as the menus offer them (kept for the process, see web/refcache.py) ----

WRITER_ROLES = ("admin", "manager", "rep")  # who works on leads (User.can_write)


class MenuUser(NamedTuple):
    id: int
    name: str
    role: str
    active: bool


class MenuTeam(NamedTuple):
    id: int
    name: str


def _everyone() -> tuple[MenuUser, ...]:
    """Every user, active or not, by name."""
    return refcache.cached(("users",), "menu users", lambda: tuple(
        MenuUser(*r) for r in db.session.execute(
            db.select(User.id, User.name, User.role, User.active).order_by(User.name, User.id))))


def menu_users(*, roles: tuple[str, ...] | None = None) -> list[MenuUser]:
    """The active users, by name (with ``roles``, those with one of them): what owner,
    assignee and reassign menus offer."""
    return [u for u in _everyone() if u.active and (roles is None or u.role in roles)]


def user_names() -> dict[int, str]:
    """Every user's name by id, active or not: what a list shows for an owner."""
    return {u.id: u.name for u in _everyone()}


def menu_teams() -> tuple[MenuTeam, ...]:
    """Every team, by name."""
    return refcache.cached(("teams",), "menu teams", lambda: tuple(
        MenuTeam(*r) for r in db.session.execute(db.select(Team.id, Team.name).order_by(Team.name, Team.id))))
