"""Serving LeadFlow with waitress: ``flask --app wsgi leadflow serve`` (what ``make run`` and
``make serve`` start).

Behind a reverse proxy (``TRUST_PROXY=1``), waitress takes the client's address, scheme and
host from the proxy's ``X-Forwarded-For/Proto/Host`` (one hop), and only on connections from
``TRUSTED_PROXY`` (default ``127.0.0.1``); from anyone else those headers are dropped, so a
client cannot pick its own address for the rate limits. Without ``TRUST_PROXY`` they are
always dropped. Waitress applies the hop, so the app's own ProxyFix (there for servers that
pass the headers through untouched, such as gunicorn) steps aside: the hop counts once.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

FORWARDED_HEADERS = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"})


def waitress_options(config, *, host: str, port: int, threads: int) -> dict:
    options = {"host": host, "port": port, "threads": threads, "clear_untrusted_proxy_headers": True}
    if config.get("TRUST_PROXY"):
        options.update(trusted_proxy=config["TRUSTED_PROXY"], trusted_proxy_count=1,
                       trusted_proxy_headers=set(FORWARDED_HEADERS))
    return options


def serve(app: Flask, *, host: str, port: int, threads: int) -> None:
    """Serve ``app`` until the process is stopped."""
    import waitress

    if isinstance(app.wsgi_app, ProxyFix):
        app.wsgi_app = app.wsgi_app.app  # waitress applies the proxy's hop itself
    waitress.serve(app, **waitress_options(app.config, host=host, port=port, threads=threads))
