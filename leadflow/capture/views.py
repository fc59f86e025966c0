"""The public capture endpoints: the only routes without session CSRF (see their own defences)."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("capture", __name__, url_prefix="/f")
