"""One place decides between a full page and an htmx fragment."""

from __future__ import annotations

import json

from flask import make_response, request
from jinja2_fragments.flask import render_block
from flask import render_template


def is_fragment_request() -> bool:
    return bool(request.htmx) and not request.htmx.boosted and not request.htmx.history_restore_request


def render_page(template: str, block: str | None = None, status: int = 200,
                trigger: dict | str | None = None, **context):
    """Render ``template`` whole, or only ``block`` of it for an htmx request.

    A history-restore request (htmx going Back with no snapshot: the app keeps none, see
    ``historyCacheSize`` in base.html) gets the whole page. Every response is marked
    ``Vary: HX-Request, HX-History-Restore-Request`` because the answers differ: a fragment
    the browser cached must never be handed to a history restore.
    ``trigger`` becomes an ``HX-Trigger`` header other widgets can listen for.
    """
    if block and is_fragment_request():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    response.vary.add("HX-History-Restore-Request")
    if trigger:
        response.headers["HX-Trigger"] = trigger if isinstance(trigger, str) else json.dumps(trigger)
    return response


def error_message_response(message: str, status: int):
    """A refused htmx request: its message as short plain text, and nothing swapped.

    static/js/app.js shows the text in the page's flash area (htmx:responseError).
    """
    response = make_response(message, status)
    response.mimetype = "text/plain"
    response.headers["HX-Reswap"] = "none"
    response.vary.add("HX-Request")
    return response


def redirect_to(url: str, status: int = 303):
    """A redirect that htmx follows as a whole-page navigation."""
    if request.htmx and not request.htmx.history_restore_request:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        response.vary.add("HX-Request")
        return response
    from flask import redirect

    return redirect(url, code=status)
