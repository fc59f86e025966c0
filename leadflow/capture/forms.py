"""The form builder's input: one plain structure for a saved form, a blank one and a post.

The builder page and the live preview both read this structure, and
``services.clean_builder_input`` validates it, so the three cannot drift apart.
Field rows are named ``std-<key>-<attr>`` and ``custom-<n>-<attr>`` in the page.
"""

from __future__ import annotations

from leadflow.capture.models import CaptureForm
from leadflow.capture.services import STANDARD_FIELDS

BLANK_CUSTOM_ROWS = 2
SETTINGS_KEYS = ("name", "slug", "consent_text", "button_label", "thank_you_message", "redirect_url",
                 "default_source", "stage_id", "owner_rule", "owner_id", "team_id")
STANDARD_ATTRS = ("include", "label", "required", "order")
CUSTOM_ATTRS = ("key", "label", "type", "options", "required", "order", "remove")
CHECKBOXES = ("include", "required", "remove")


def _blank_custom(order: int) -> dict:
    return {"key": "", "label": "", "type": "text", "options": "", "required": False, "order": order,
            "remove": False, "saved": False}


def _with_blank_rows(custom: list[dict], next_order: int) -> list[dict]:
    return custom + [_blank_custom(next_order + i) for i in range(BLANK_CUSTOM_ROWS)]


def blank_builder_input() -> dict:
    """A new form: name and email required, phone and company offered."""
    preset = {"first_name": True, "last_name": False, "email": True, "phone": False, "organization": False}
    standard = [{"key": key, "include": key in preset, "label": label, "required": preset.get(key, False),
                 "order": i + 1} for i, (key, (label, _, _)) in enumerate(STANDARD_FIELDS.items())]
    return {"name": "", "slug": "", "active": True, "consent_text": "", "button_label": "Send",
            "thank_you_message": "", "redirect_url": "", "default_source": "web form", "stage_id": "",
            "owner_rule": "none", "owner_id": "", "team_id": "", "standard": standard,
            "custom": _with_blank_rows([], len(standard) + 1)}


def builder_input_from_model(form: CaptureForm) -> dict:
    chosen = {f["key"]: (position, f) for position, f in enumerate(form.fields or [], start=1)}
    standard = []
    for i, (key, (label, _, _)) in enumerate(STANDARD_FIELDS.items()):
        position, field = chosen.get(key, (len(chosen) + i + 1, None))
        standard.append({"key": key, "include": field is not None and not field.get("custom"),
                         "label": field["label"] if field else label,
                         "required": bool(field and field.get("required")), "order": position})
    custom = [{"key": f["key"], "label": f["label"], "type": f.get("type", "text"),
               "options": "\n".join(f.get("options", [])), "required": bool(f.get("required")),
               "order": chosen[f["key"]][0], "remove": False, "saved": True}
              for f in form.fields or [] if f.get("custom")]
    values = {key: ("" if getattr(form, key) is None else getattr(form, key)) for key in SETTINGS_KEYS}
    values.update(active=form.active, standard=standard,
                  custom=_with_blank_rows(custom, len(form.fields or []) + 1))
    return values


def builder_input(formdata) -> dict:
    """The builder's structure from a posted form (a MultiDict)."""
    values = {key: formdata.get(key, "") for key in SETTINGS_KEYS}
    values["active"] = bool(formdata.get("active"))
    values["standard"] = [_row(formdata, f"std-{key}", STANDARD_ATTRS, key=key) for key in STANDARD_FIELDS]
    count = _custom_row_count(formdata)
    values["custom"] = [_row(formdata, f"custom-{i}", CUSTOM_ATTRS, saved=formdata.get(f"custom-{i}-saved") == "1")
                        for i in range(count)]
    return values


def _row(formdata, prefix: str, attrs: tuple[str, ...], **extra) -> dict:
    row = {attr: (bool(formdata.get(f"{prefix}-{attr}")) if attr in CHECKBOXES else formdata.get(f"{prefix}-{attr}", ""))
           for attr in attrs}
    row.update(extra)
    return row


def _custom_row_count(formdata, limit: int = 60) -> int:
    indexes = set()
    for name in formdata.keys():
        parts = name.split("-")
        if len(parts) >= 3 and parts[0] == "custom" and parts[1].isdigit() and int(parts[1]) < limit:
            indexes.add(int(parts[1]))
    return max(indexes) + 1 if indexes else 0
