"""What other screens read about capture forms."""

from __future__ import annotations

from dataclasses import dataclass, field

from leadflow.capture.models import CaptureForm
from leadflow.extensions import db


@dataclass
class CustomFieldLabels:
    """The labels capture forms give their custom fields: per form, and for a name any form
    uses (the oldest form's label when forms label one name differently)."""

    by_form: dict[int, dict[str, str]] = field(default_factory=dict)
    anywhere: dict[str, str] = field(default_factory=dict)

    def label(self, key: str, form_id=None) -> str | None:
        return (self.by_form.get(form_id) or {}).get(key) or self.anywhere.get(key)


def custom_field_labels() -> CustomFieldLabels:
    labels = CustomFieldLabels()
    for form_id, fields in db.session.execute(
            db.select(CaptureForm.id, CaptureForm.fields).order_by(CaptureForm.id)):
        own = {f["key"]: f["label"] for f in fields or [] if isinstance(f, dict) and f.get("custom")
               and f.get("key") and f.get("label")}
        labels.by_form[form_id] = own
        for key, label in own.items():
            labels.anywhere.setdefault(key, label)
    return labels
