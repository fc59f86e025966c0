"""Pipeline and stage settings for admins and managers."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("pipeline_admin", __name__, url_prefix="/settings/pipelines")
