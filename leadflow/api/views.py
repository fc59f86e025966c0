"""The REST API under /api/v1: bearer tokens, JSON in and out, no session CSRF."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
