"""Small helpers shared by every area's forms."""

from __future__ import annotations

from collections.abc import Iterable

from flask_wtf import FlaskForm

try:  # WTForms 3.3 deprecates (value, label) tuples in favour of SelectChoice.
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - older WTForms
    SelectChoice = None


def select_choices(pairs: Iterable[tuple[str, str]]) -> list:
    """``SelectField`` choices from ``(value, label)`` pairs, in the form this WTForms wants."""
    if SelectChoice is None:  # pragma: no cover
        return [(value, label) for value, label in pairs]
    return [SelectChoice(value, label) for value, label in pairs]


def apply_errors(form: FlaskForm, errors: dict[str, list[str]]) -> None:
    """Show a service's validation errors on the form fields they belong to."""
    for field_name, messages in errors.items():
        field = getattr(form, field_name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors or []) + list(messages)
        else:
            form.form_errors.extend(messages)
