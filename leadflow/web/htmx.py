"""One place decides between a full page and an htmx fragment; htmx's response headers are
set through htmx-flask's ``make_response`` (no hand-written ``HX-*`` names)."""

from __future__ import annotations

from flask import redirect, render_template, request
from htmx_flask import make_response
from jinja2_fragments.flask import render_block


def is_fragment_request() -> bool:
    return bool(request.htmx) and not request.htmx.boosted and not request.htmx.history_restore_request


def render_page(template: str, block: str | None = None, status: int = 200,
                trigger: dict | str | None = None, reswap: str | None = None, **context):
    """Render ``template`` whole, or only ``block`` of it for an htmx request.

    A history-restore request (htmx going Back with no snapshot: the app keeps none, see
    ``historyCacheSize`` in base.html) gets the whole page. Every response is marked
    ``Vary: HX-Request, HX-History-Restore-Request`` because the answers differ: a fragment
    the browser cached must never be handed to a history restore.
    ``trigger`` becomes an ``HX-Trigger`` header other widgets can listen for; ``reswap``
    changes how htmx swaps it in (``HX-Reswap``).
    """
    if block and is_fragment_request():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status, trigger=trigger or None, reswap=reswap)
    response.vary.add("HX-Request")
    response.vary.add("HX-History-Restore-Request")
    return response


def error_message_response(message: str, status: int):
    """A refused htmx request: its message as short plain text, and nothing swapped.

    static/js/app.js shows the text in the page's flash area (htmx:responseError).
    """
    response = make_response(message, status, reswap="none")
    response.mimetype = "text/plain"
    response.vary.add("HX-Request")
    return response


def retarget(response, target: str, swap: str = "outerHTML"):
    """Send a fragment to another element than the one the request named (``target``, a CSS
    selector), swapped in with ``swap``: a form's errors where the form is, say."""
    response = make_response(response, retarget=target, reswap=swap)
    response.vary.add("HX-Request")
    return response


def redirect_to(url: str, status: int = 303):
    """A redirect that htmx follows as a whole-page navigation."""
    if request.htmx and not request.htmx.history_restore_request:
        response = make_response("", 204, redirect=url)
        response.vary.add("HX-Request")
        return response
    return redirect(url, code=status)
