"""A lead's custom fields (``Lead.custom_fields``, name → text) as people read them: the
"More details" panel of the lead page, the timeline and the export name each by the label
the capture form that asks for it gives it, else by its name made readable."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from flask import url_for

from leadflow.capture.models import CaptureForm
from leadflow.extensions import db
from leadflow.leads.fields import CUSTOM_VALUE_MAX
from leadflow.web import refcache


@dataclass
class CustomFieldLabels:
    """The labels capture forms give their custom fields: per form, and for a name any form
    uses (the oldest form's label when forms label one name differently)."""

    by_form: dict[int, dict[str, str]] = field(default_factory=dict)
    anywhere: dict[str, str] = field(default_factory=dict)

    def label(self, key: str, form_id=None) -> str | None:
        return (self.by_form.get(form_id) or {}).get(key) or self.anywhere.get(key)


def custom_field_labels() -> CustomFieldLabels:
    """The labels the capture forms give custom fields, read from the forms themselves and kept
    for the process until a form's fields change (callers only read the answer)."""
    return refcache.cached(("capture_forms",), "custom field labels", _read_custom_field_labels)


def _read_custom_field_labels() -> CustomFieldLabels:
    labels = CustomFieldLabels()
    for form_id, fields in db.session.execute(
            db.select(CaptureForm.id, CaptureForm.fields).order_by(CaptureForm.id)):
        own = {f["key"]: f["label"] for f in fields or [] if isinstance(f, dict) and f.get("custom")
               and f.get("key") and f.get("label")}
        labels.by_form[form_id] = own
        for key, label in own.items():
            labels.anywhere.setdefault(key, label)
    return labels


def readable_name(key: str) -> str:
    """ "annual_revenue" → "Annual revenue"; a column name such as "Lead Status" stays as it is."""
    text = " ".join(str(key).replace("_", " ").split())
    return text[:1].upper() + text[1:]


def label_for(key: str, labels: CustomFieldLabels | None = None, form_id=None) -> str:
    found = labels.label(key, form_id) if labels is not None else None
    return found or readable_name(key)


def value_text(value) -> str:
    """A stored value as text (the API may have sent a number or true/false)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


@dataclass(frozen=True)
class CustomInlineField:
    """One custom field as a row of the lead page: ``leads/_field.html`` shows and edits it
    like the lead's own fields (the same interface as ``leads.forms.InlineField``)."""

    key: str
    label: str
    kind = "textarea"
    choices = None
    maxlength = CUSTOM_VALUE_MAX
    removable = True

    @property
    def name(self) -> str:
        """A name for the row's element ids (a custom field's own name may hold any character)."""
        return "custom-" + hashlib.sha1(self.key.encode(), usedforsecurity=False).hexdigest()[:12]

    def view_url(self, lead) -> str:
        return url_for("leads.custom_field", lead_id=lead.id, key=self.key)

    def edit_url(self, lead) -> str:
        return url_for("leads.edit_custom_field", lead_id=lead.id, key=self.key)

    def save_url(self, lead) -> str:
        return url_for("leads.update_custom_field", lead_id=lead.id, key=self.key)

    def remove_url(self, lead) -> str:
        return url_for("leads.remove_custom_field", lead_id=lead.id, key=self.key)

    def current_value(self, lead) -> str:
        return value_text((lead.custom_fields or {}).get(self.key))


def inline_field(key: str, labels: CustomFieldLabels | None = None) -> CustomInlineField:
    return CustomInlineField(key, label_for(key, labels if labels is not None else custom_field_labels()))


def custom_field_rows(lead, labels: CustomFieldLabels | None = None) -> list[tuple[CustomInlineField, str]]:
    """(field, value as text) for each custom field of the lead, in the order they were kept."""
    if not lead.custom_fields:
        return []
    labels = labels if labels is not None else custom_field_labels()
    return [(CustomInlineField(key, label_for(key, labels)), value_text(value))
            for key, value in (lead.custom_fields or {}).items()]


AUDIT_PREFIX = "custom field "  # how ``leads.services.update_custom_field`` names its audit entries


def history_labels(entries) -> dict[str, str]:
    """For the history panel: each audited custom field's entry name → its label."""
    names = {e.field for e in entries if (e.field or "").startswith(AUDIT_PREFIX)}
    if not names:
        return {}
    labels = custom_field_labels()
    return {name: label_for(name.removeprefix(AUDIT_PREFIX), labels) for name in names}
