"""Forms of the import screens. The column mapping is one select per column, read by the view."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, RadioField, SelectField

from leadflow.imports.csvfile import DELIMITERS, ENCODINGS
from leadflow.imports.formats import DECIMAL_SEPARATORS
from leadflow.imports.models import DUPLICATE_POLICIES, POLICY_LABELS
from leadflow.web.forms import select_choices


class UploadForm(FlaskForm):
    file = FileField("CSV file", validators=[FileRequired("Choose a CSV file to upload.")],
                     description="A .csv file exported from a spreadsheet or another CRM.")


class FileSettingsForm(FlaskForm):
    encoding = SelectField("Encoding", choices=select_choices(ENCODINGS.items()))
    delimiter = SelectField("Delimiter", choices=select_choices(DELIMITERS.items()))
    has_header = BooleanField("The first row holds the column names")
    # Checked by the service, whose message says what to choose (an unknown value is not a 500).
    decimal_separator = SelectField(
        "Decimal separator of amounts",
        choices=select_choices([("", "Choose…"), *DECIMAL_SEPARATORS.items()]), validate_choice=False)


class StartForm(FlaskForm):
    duplicate_policy = RadioField(
        "When a row matches an existing lead (same email or phone)",
        choices=select_choices((p, POLICY_LABELS[p]) for p in DUPLICATE_POLICIES), default="skip")
    new_lead_rules = BooleanField("Handle the new leads like new enquiries: assign those without an owner by "
                                  "the routing rules, score them, and run the workflow rules for new leads")


class ConfirmForm(FlaskForm):
    """A form with only its CSRF token: confirm an undo, discard a draft."""
