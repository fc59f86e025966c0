"""Serving LeadFlow with waitress: ``flask --app wsgi leadflow serve`` (what ``make run`` and
``make serve`` start).

Behind a reverse proxy (``TRUST_PROXY=1``), waitress takes the client's address, scheme and
host from the proxy's ``X-Forwarded-For/Proto/Host`` (one hop), and only on connections from
``TRUSTED_PROXY`` (default ``127.0.0.1``); from anyone else those headers are dropped, so a
client cannot pick its own address for the rate limits. Without ``TRUST_PROXY`` they are
always dropped. Waitress applies the hop, so the app's own ``TrustedProxyFix`` (there for
servers that pass the headers through untouched, such as gunicorn) steps aside: the hop counts
once. ``TrustedProxyFix`` holds to the same rule: the forwarded headers count only on
connections from ``TRUSTED_PROXY``; from any other peer they are removed before the app sees them.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

FORWARDED_HEADERS = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"})
# Every X-Forwarded-* header ProxyFix could read, as WSGI environ keys.
FORWARDED_ENVIRON_KEYS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
                          "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX")


class TrustedProxyFix:
    """ProxyFix (one hop of For/Proto/Host) for requests whose peer is ``trusted`` (one IP, or
    ``*`` for any); for every other peer the forwarded headers are dropped, so a client that
    reaches the server directly cannot choose its own address, scheme or host."""

    def __init__(self, app, trusted: str):
        self.app = app
        self.trusted = trusted.strip()
        self.proxied = ProxyFix(app, x_for=1, x_proto=1, x_host=1)

    def trusts(self, peer: str | None) -> bool:
        return self.trusted == "*" or (peer or "").removeprefix("::ffff:") == self.trusted

    def __call__(self, environ, start_response):
        if self.trusts(environ.get("REMOTE_ADDR")):
            return self.proxied(environ, start_response)
        for key in FORWARDED_ENVIRON_KEYS:
            environ.pop(key, None)
        return self.app(environ, start_response)


def waitress_options(config, *, host: str, port: int, threads: int) -> dict:
    options = {"host": host, "port": port, "threads": threads, "clear_untrusted_proxy_headers": True}
    if config.get("TRUST_PROXY"):
        options.update(trusted_proxy=config["TRUSTED_PROXY"], trusted_proxy_count=1,
                       trusted_proxy_headers=set(FORWARDED_HEADERS))
    return options


def serve(app: Flask, *, host: str, port: int, threads: int) -> None:
    """Serve ``app`` until the process is stopped."""
    import waitress

    if isinstance(app.wsgi_app, TrustedProxyFix):
        app.wsgi_app = app.wsgi_app.app  # waitress applies the proxy's hop itself
    waitress.serve(app, **waitress_options(app.config, host=host, port=port, threads=threads))
