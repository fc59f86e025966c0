from __future__ import annotations

from flask import Blueprint

bp = Blueprint("capture_admin", __name__, url_prefix="/settings/forms")
