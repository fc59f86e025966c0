"""What templates call to show a lead's values: ``{{ lead.phone|phone }}`` and
``{{ lifecycle_label(lead.lifecycle) }}``. The app factory registers them; the web layer
below, which formats times and money for every area, knows nothing of leads."""

from __future__ import annotations

from flask import Flask

from leadflow.leads.fields import display_phone
from leadflow.leads.models import LIFECYCLE_LABELS


def lifecycle_label(key: str | None) -> str:
    return LIFECYCLE_LABELS.get(key or "", key or "—")


def register_template_helpers(app: Flask) -> None:
    app.add_template_filter(display_phone, "phone")
    app.add_template_global(lifecycle_label, "lifecycle_label")
