"""The public capture endpoints: the only routes without session CSRF (see their own defences
in ``leadflow.capture.spam``). Anyone may open them; they never set or read a session cookie.

- ``GET /f/<slug>``: the hosted form (``?embed=1`` inside the embed script's frame);
- ``POST /f/<slug>``: a submission, form-encoded or JSON, from any origin;
- ``GET /f/<slug>/embed.js``: the script a site pastes to show the form;
- ``GET /f/<slug>/token``: a form token for sites that post JSON from their own form.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, jsonify, make_response, redirect, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge

from leadflow.capture import services, spam
from leadflow.errors import ValidationFailed
from leadflow.extensions import limiter
from leadflow.mail.services import absolute_url
from leadflow.retry import RETRY_AFTER_SECONDS, ConcurrentChange, DatabaseBusy
from leadflow.web.ratelimits import retry_after_seconds, wait_phrase

bp = Blueprint("capture", __name__, url_prefix="/f")
log = logging.getLogger(__name__)

TOKEN_MESSAGES = {
    spam.TokenCheck.TOO_FAST: "That was quick! Please check your details and send the form again.",
    spam.TokenCheck.EXPIRED: "This form was open for a long time, so we refreshed it. "
                             "Your details are still here: please send it again.",
    spam.TokenCheck.INVALID: "We could not verify this form. Your details are still here: please send it again.",
    spam.TokenCheck.USED: "This form was already sent — please submit it again if you meant to.",
}
TOO_LARGE = "The form is too large to send. Shorten the longest answers and try again."


@bp.record_once
def _install_framing_hook(state):
    # Runs after the app's own security headers (hooks run last-registered first, and this
    # one is put at the front): capture pages may be framed by any site, nothing else may.
    state.app.after_request_funcs.setdefault(None, []).insert(0, _allow_framing)


def _allow_framing(response):
    if g.get("capture_frameable"):
        response.headers.pop("X-Frame-Options", None)
    return response


bp.add_app_template_global(services.field_input_type, "field_input_type")
bp.add_app_template_global(services.field_autocomplete, "field_autocomplete")


@bp.after_request
def public_headers(response):
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.vary.add("Origin")
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "86400"
    if response.mimetype == "text/html":
        g.capture_frameable = True
        nonce = g.get("csp_nonce", "")
        form_action = "'self'" + (f" {g.capture_redirect_origin}" if g.get("capture_redirect_origin") else "")
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            f"script-src 'self'{f' {chr(39)}nonce-{nonce}{chr(39)}' if nonce else ''}; "
            f"object-src 'none'; frame-ancestors *; form-action {form_action}; base-uri 'none'"
        )
    if "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def _error(status: int, message: str, title: str = "This form could not be sent"):
    if _wants_json():
        return jsonify(ok=False, error=title, message=message), status
    return render_template("capture/unavailable.html", title=title, message=message), status


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_exc):
    return _error(413, TOO_LARGE, "Too large")


@bp.errorhandler(DatabaseBusy)
@bp.errorhandler(ConcurrentChange)
def not_saved(exc: DatabaseBusy | ConcurrentChange):
    response, status = _error(exc.code, exc.description, "Busy" if exc.code == 503 else "Not sent")
    return response, status, {"Retry-After": str(RETRY_AFTER_SECONDS)}


@bp.errorhandler(429)
def too_many(_exc):
    return _error(429, f"Too many submissions from your network. Try again in {wait_phrase(retry_after_seconds())}.",
                  "Too many submissions")


def _form_or_404(slug: str):
    form = services.active_form(slug)
    if form is None:
        return None, _error(404, "This form does not exist or no longer takes submissions.", "Form not found")
    return form, None


def _is_embed(source) -> bool:
    return str(source.get("embed", "")) == "1"


def _render_form(form, *, values: dict, errors: dict | None = None, message: str | None = None,
                 status: int = 200, embed: bool = False):
    g.csp_nonce = secrets.token_urlsafe(16)
    _allow_redirect_target(form)
    field_keys = {f["key"] for f in form.fields or []}
    return render_template(
        "capture/hosted.html", form=form, values=values, errors=errors or {}, message=message,
        other_errors=[m for key, msgs in (errors or {}).items() if key not in field_keys for m in msgs],
        token=spam.issue_token(form.id), tracking=services.clean_tracking(values), embed=embed,
        nonce=g.csp_nonce, min_fill_seconds=current_app.config["CAPTURE_MIN_FILL_SECONDS"],
    ), status


@bp.get("/<slug>")
def hosted(slug: str):
    form, missing = _form_or_404(slug)
    if missing:
        return missing
    values = request.args.to_dict()
    embed = _is_embed(values)
    if not embed:  # opened directly: this page is the landing page
        values.setdefault("landing_page", request.base_url)
        if request.referrer:
            values.setdefault("referrer", request.referrer)
    return _render_form(form, values=values, embed=embed)


@bp.get("/<slug>/token")
def token(slug: str):
    form, missing = _form_or_404(slug)
    if missing:
        return missing
    return jsonify(token=spam.issue_token(form.id), field=services.TOKEN_FIELD,
                   min_fill_seconds=current_app.config["CAPTURE_MIN_FILL_SECONDS"])


@bp.get("/<slug>/embed.js")
def embed_js(slug: str):
    form, missing = _form_or_404(slug)
    if missing:
        response = make_response(f"/* {missing[1]}: this LeadFlow form is not available. */\n", missing[1])
    else:
        # From BASE_URL, never the Host header: the script is cached publicly, so a request with
        # a forged Host must not make it point visitors' browsers elsewhere.
        frame_url = absolute_url("capture.hosted", slug=form.slug)
        response = make_response(render_template("capture/embed.js", form=form, frame_url=frame_url,
                                                 tracking_keys=services.TRACKING_KEYS))
        response.headers["Cache-Control"] = "public, max-age=300"
    response.mimetype = "text/javascript"
    response.charset = "utf-8"
    return response


def _per_form_key() -> str:
    return "capture-form:" + str((request.view_args or {}).get("slug", ""))


@bp.post("/<slug>")
@limiter.limit(lambda: current_app.config["CAPTURE_RATE_LIMIT_PER_IP"])
@limiter.limit(lambda: current_app.config["CAPTURE_RATE_LIMIT_PER_FORM"], key_func=_per_form_key)
def submit(slug: str):
    form, missing = _form_or_404(slug)
    if missing:
        return missing
    try:
        payload = spam.read_payload()
    except spam.BadPayload as exc:
        return _error(400, str(exc), "The form data could not be read")
    embed = _is_embed(payload) or _is_embed(request.args)
    if spam.honeypot_filled(payload):
        log.info("Capture form %s: honeypot filled from %s; nothing saved", form.slug, request.remote_addr)
        return _success(form, embed)
    token = spam.check_token(form.id, payload.get(services.TOKEN_FIELD))
    if token.check is not spam.TokenCheck.OK:
        return _refuse(form, payload, {services.TOKEN_FIELD: [TOKEN_MESSAGES[token.check]]}, embed)
    try:
        data, consent = services.read_submission(form, payload)
        services.submit(services.Submission(form.id, data, consent, request.remote_addr, token.token_id))
    except ValidationFailed as exc:
        return _refuse(form, payload, exc.errors, embed)
    except services.TokenAlreadyUsed:
        log.info("Capture form %s: a used form token was sent again from %s; nothing saved",
                 form.slug, request.remote_addr)
        return _refuse(form, payload, {services.TOKEN_FIELD: [TOKEN_MESSAGES[spam.TokenCheck.USED]]}, embed,
                       status=409, title="This form was already sent")
    return _success(form, embed)


def _refuse(form, payload: dict, errors: dict, embed: bool, status: int = 422,
            title: str = "This form could not be sent"):
    """The form again, with what the visitor typed, the errors and a fresh token."""
    if _wants_json():
        body = {"ok": False, "error": title, "errors": errors, services.TOKEN_FIELD: spam.issue_token(form.id)}
        return jsonify(body), status
    message = errors.get(services.TOKEN_FIELD, ["Please correct the fields marked below."])[0]
    values = {k: v for k, v in payload.items() if isinstance(v, str)}
    return _render_form(form, values=values, errors=errors, message=message, status=status, embed=embed)


def _allow_redirect_target(form) -> None:
    """Browsers apply the page's form-action policy to the redirect after a post too."""
    if form.redirect_url:
        parts = urlsplit(form.redirect_url)
        g.capture_redirect_origin = f"{parts.scheme}://{parts.netloc}"


def _success(form, embed: bool):
    message = form.thank_you_message or services.DEFAULT_THANK_YOU
    if _wants_json():
        return jsonify(ok=True, message=message, redirect=form.redirect_url)
    if form.redirect_url and not embed:
        _allow_redirect_target(form)
        return redirect(form.redirect_url, code=303)
    g.csp_nonce = secrets.token_urlsafe(16)
    return render_template("capture/thanks.html", form=form, message=message, embed=embed, nonce=g.csp_nonce)
