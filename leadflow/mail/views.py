from __future__ import annotations

from flask import Blueprint

bp = Blueprint("mail", __name__, url_prefix="/settings/outbox")
