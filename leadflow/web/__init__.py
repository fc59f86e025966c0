"""Helpers every area uses: request set-up, errors, htmx rendering, permissions."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, g, has_request_context, jsonify, make_response, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.routing import IntegerConverter

from leadflow.db import (MAX_ID, CheckFailed, begin_mode, is_conflict, is_retryable, riding_check,
                         riding_checks_allowed, settle_riding_check)
from leadflow.errors import NotFound, PermissionDenied, ValidationFailed, VersionConflict
from leadflow.extensions import db, login_manager
from leadflow.retry import BUSY_MESSAGE, CONFLICT_MESSAGE, RETRY_AFTER_SECONDS, ConcurrentChange, busy_answer
from leadflow.web import formatting
from leadflow.web.htmx import error_message_response, is_fragment_request, render_page
from leadflow.web.ratelimits import add_retry_after, retry_after_seconds, wait_phrase

# App pages: no plugins, no <base>, never inside a frame (public capture pages set their own).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
HSTS = "max-age=31536000"

READ_ONLY_METHODS = {"GET", "HEAD", "OPTIONS"}


class HttpsAwareSessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure when configured so, and always when the request came
    over HTTPS (directly, or through a trusted proxy with ``TRUST_PROXY``).

    The REST API authenticates by bearer token alone, and the public capture forms never sign
    anyone in (``SESSIONLESS_PREFIXES``): a browser's session cookie sent along is neither read
    (no signature check, no decoding per request: making the cookie's serializer alone cost a
    capture submission about 1% of its CPU) nor refreshed; the request gets an empty session of
    its own."""

    SESSIONLESS_PREFIXES = ("/api/", "/f/")

    def open_session(self, app: Flask, request):
        if request.path.startswith(self.SESSIONLESS_PREFIXES):
            return self.session_class()
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or (has_request_context() and request.is_secure)


def _secure_cookies_over_https(response):
    if not request.is_secure:
        return response
    cookies = response.headers.getlist("Set-Cookie")
    if any("; secure" not in c.lower() for c in cookies):
        response.headers.setlist("Set-Cookie", [
            c if "; secure" in c.lower() else c + "; Secure" for c in cookies])
    return response


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: a number larger than any id (``MAX_ID``) matches no
    route, so the address answers 404 like any other id that names nothing."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = MAX_ID,
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def init_web(app: Flask, *, load_user: Callable[[str], object]) -> None:
    """Request set-up, error pages and template helpers for ``app``. ``load_user`` turns the
    user id in a session into the signed-in user (the accounts area's, passed in by the app
    factory: the web layer sits below every area)."""
    app.url_map.converters["int"] = IdConverter  # before any blueprint adds its routes
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    login_manager.user_loader(load_user)

    @app.before_request
    def choose_transaction_mode():
        token = begin_mode.set(
            "DEFERRED" if request.method in READ_ONLY_METHODS else "IMMEDIATE"
        )
        g._begin_mode_token = token

    @app.teardown_request
    def reset_transaction_mode(_exc):
        token = g.pop("_begin_mode_token", None)
        if token is not None:
            begin_mode.reset(token)
        riding_check.set(None)

    dispatch = app.full_dispatch_request

    def full_dispatch_request():
        """The request, answered only once its ``riding_check`` has passed (the signed-in user
        taken from this process's memory on PostgreSQL); if it failed, everything the request
        did is dropped and it runs again, reading from the database first."""
        try:
            try:
                response = dispatch()
            except Exception:
                settle_riding_check()  # a failed check outranks the error: the error may come from it
                raise
            settle_riding_check()
            return response
        except CheckFailed:
            db.session.remove()
            g.pop("_login_user", None)  # Flask-Login's user of this request, loaded again
            reset_transaction_mode(None)  # chosen again by the run's own before_request
            allowed = riding_checks_allowed.set(False)
            try:
                return dispatch()
            finally:
                riding_checks_allowed.reset(allowed)

    app.full_dispatch_request = full_dispatch_request

    app.session_interface = HttpsAwareSessionInterface()
    # Runs after every other after_request hook (Flask runs them last-registered first),
    # so it also sees the remember-me cookie Flask-Login sets in its own hook.
    app.after_request_funcs.setdefault(None, []).insert(0, _secure_cookies_over_https)

    @app.after_request
    def security_headers(response):
        if "Cache-Control" not in response.headers:
            # Pages show one user's data: a shared cache (proxy, CDN) must never keep them.
            response.headers["Cache-Control"] = "private"
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if request.is_secure:  # directly, or through a trusted proxy that terminated HTTPS
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return add_retry_after(response)

    def wants_json() -> bool:
        return request.path.startswith("/api/") or (
            request.accept_mimetypes.best == "application/json"
        )

    def error_page(status: int, title: str, message: str, htmx_message: str | None = None):
        # An error page only reads (the signed-in user, the menu). On SQLite it must not wait
        # for the write lock a writing request asks for: when another writer holds it (which
        # may be why this page is shown), a page that waited would fail and the server would
        # answer a bare 500 instead of this page.
        # A user first loaded here reads its row (no ``riding_check``): the page of an
        # unexpected error is answered after ``full_dispatch_request``, which settles checks.
        mode, checks = begin_mode.set("DEFERRED"), riding_checks_allowed.set(False)
        try:
            if wants_json():
                return jsonify(error=title, message=message), status
            if is_fragment_request():
                return error_message_response(htmx_message or message, status)
            return render_page("errors/error.html", status=status, title=title, message=message), status
        finally:
            riding_checks_allowed.reset(checks)
            begin_mode.reset(mode)

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return error_page(
            400, "Form expired",
            "The form was missing its security token or it had expired. "
            "Go back, reload the page and try again.",
            htmx_message="Your session expired — reload the page to continue.",
        )

    @app.errorhandler(400)
    def bad_request(error):
        return error_page(400, "Bad request", getattr(error, "description", "") or "The request was not understood.")

    @app.errorhandler(403)
    def forbidden(error):
        return error_page(403, "Not allowed", "Your role does not allow this. Ask an admin if you need it.")

    @app.errorhandler(404)
    def not_found(error):
        return error_page(404, "Not found", "There is nothing at this address. It may have been deleted.")

    @app.errorhandler(405)
    def method_not_allowed(error):
        response = make_response(
            error_page(405, "Method not allowed", "This address does not accept that kind of request."))
        allowed = getattr(error, "valid_methods", None)
        if allowed:  # RFC 9110: a 405 names the methods the address does accept
            response.headers["Allow"] = ", ".join(sorted(allowed))
        return response

    @app.errorhandler(409)
    def conflict(error):  # views answer their own conflicts; this is ``ConcurrentChange``
        db.session.rollback()
        return error_page(409, "Changed meanwhile", getattr(error, "description", "") or ConcurrentChange.description)

    @app.errorhandler(413)
    def too_large(error):
        return error_page(413, "Too large", "The upload or form was larger than this server accepts.")

    @app.errorhandler(429)
    def too_many(error):
        # A limit declared with its own error_message (sign-in) says it; others get the generic text.
        own = getattr(getattr(error, "limit", None), "error_message", None)
        message = error.description if own else (
            f"Too many attempts. Try again in {wait_phrase(retry_after_seconds())}.")
        return error_page(429, "Too many attempts", message)

    @app.errorhandler(503)
    def busy(error):
        db.session.rollback()
        response = make_response(error_page(503, "Busy", getattr(error, "description", "") or BUSY_MESSAGE))
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    # A service refused: one answer for every view (no per-view ``except`` for these), and
    # the request's writes are rolled back (the unit of work, ``leadflow.retry``, does too).
    @app.errorhandler(PermissionDenied)
    def refused(error):
        db.session.rollback()
        return error_page(403, "Not allowed", str(error) or "Your role does not allow this. Ask an admin if you need it.")

    @app.errorhandler(NotFound)
    def gone(error):
        db.session.rollback()
        return error_page(404, "Not found", str(error) or "There is nothing at this address. It may have been deleted.")

    @app.errorhandler(ValidationFailed)
    def refused_input(error):
        # A form page shows its own errors next to its fields (the view catches these); for
        # htmx and JSON, and any page that did not, the messages with a 422. Nothing was saved.
        db.session.rollback()
        message = " ".join(m for messages in error.errors.values() for m in messages) or str(error)
        if wants_json():
            return jsonify(error="Not saved", message=message, errors=error.errors), 422
        return error_page(422, "Not saved", message)

    @app.errorhandler(StaleDataError)
    @app.errorhandler(VersionConflict)
    def changed_meanwhile(error):
        # Views that show the record's current state catch these themselves; anywhere else a
        # lost race is still the visitor's to redo, never a server error. Nothing was saved.
        db.session.rollback()
        return error_page(409, "Changed meanwhile", CONFLICT_MESSAGE)

    @app.errorhandler(500)
    def server_error(error):
        original = getattr(error, "original_exception", None)
        if is_retryable(original):  # outside a view's retries
            return busy(busy_answer())
        if is_conflict(original):
            return conflict(ConcurrentChange())
        db.session.rollback()
        return error_page(500, "Something went wrong", "The error was logged. Nothing was saved.")

    formatting.register(app)
