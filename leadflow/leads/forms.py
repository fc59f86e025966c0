from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from flask import url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, EmailField, SelectField, StringField, TelField
from wtforms.validators import Length, Optional

from leadflow.accounts.services import menu_users
from leadflow.governance.models import CURRENCIES
from leadflow.leads.models import LIFECYCLE_LABELS, SOURCES, TEMPERATURES
from leadflow.pipeline.stages import stage_choices


def _owner_choices():
    return [("", "Unassigned")] + [(str(u.id), u.name) for u in menu_users()]


def _stage_choices():
    return [(str(i), label) for i, label in stage_choices()]


def _source_choices():
    return [("", "—")] + [(s, s.title()) for s in SOURCES]


def _lifecycle_choices():
    return list(LIFECYCLE_LABELS.items())


def _currency_choices():
    return [(c, c) for c in CURRENCIES]


def _temperature_choices():
    return [(t, t.title()) for t in TEMPERATURES]


class LeadForm(FlaskForm):
    """The new-lead form. Rules live in ``leads.services``; this form only carries the input."""

    first_name = StringField("First name", validators=[Length(max=80)])
    last_name = StringField("Last name", validators=[Length(max=80)])
    email = EmailField("Email", validators=[Length(max=254)])
    phone = TelField("Phone", validators=[Length(max=40)], description="Any format; stored with its country code.")
    title = StringField("Job title", validators=[Length(max=120)])
    organization = StringField("Organization", validators=[Length(max=200)],
                               description="An existing organization is matched by name; a new name creates one.")
    source = SelectField("Source", choices=[], validate_choice=False)
    owner_id = SelectField("Owner", choices=[], validate_choice=False)
    stage_id = SelectField("Stage", choices=[], validate_choice=False)
    lifecycle = SelectField("Lifecycle", choices=[], default="lead", validate_choice=False)
    value = StringField("Deal value", validators=[Length(max=30)])
    currency = SelectField("Currency", choices=[], validate_choice=False)
    expected_close_date = DateField("Expected close", validators=[Optional()])
    tags = StringField("Tags", validators=[Length(max=400)], description="Separate with commas; new tags are created.")
    marketing_consent = BooleanField("Agreed to receive marketing e-mail")
    confirm_duplicate = BooleanField("Create it anyway")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.source.choices = _source_choices()
        self.owner_id.choices = _owner_choices()
        self.stage_id.choices = _stage_choices()
        self.lifecycle.choices = _lifecycle_choices()
        self.currency.choices = _currency_choices()

    def service_data(self) -> dict:
        data = {name: self[name].data for name in (
            "first_name", "last_name", "email", "phone", "title", "organization", "source",
            "owner_id", "stage_id", "lifecycle", "value", "currency", "expected_close_date",
            "tags", "marketing_consent")}
        return data


@dataclass(frozen=True)
class InlineField:
    """A lead field that can be edited in place on the lead page."""

    name: str
    label: str
    kind: str = "text"  # text | email | tel | select | date | money | checkbox | tags | textarea
    choices: Callable[[], list[tuple[str, str]]] | None = None
    maxlength: int | None = None
    removable = False  # a lead's own fields are always there (``leads.custom_fields`` may go)

    # Where the row (``leads/_field.html``) is shown, edited and saved.
    def view_url(self, lead) -> str:
        return url_for("leads.field", lead_id=lead.id, name=self.name)

    def edit_url(self, lead) -> str:
        return url_for("leads.edit_field", lead_id=lead.id, name=self.name)

    def save_url(self, lead) -> str:
        return url_for("leads.update_field", lead_id=lead.id, name=self.name)

    def current_value(self, lead) -> str:
        return current_input_value(lead, self.name)


INLINE_FIELDS = {f.name: f for f in (
    InlineField("first_name", "First name", maxlength=80),
    InlineField("last_name", "Last name", maxlength=80),
    InlineField("email", "Email", "email", maxlength=254),
    InlineField("phone", "Phone", "tel", maxlength=40),
    InlineField("title", "Job title", maxlength=120),
    InlineField("organization", "Organization", maxlength=200),
    InlineField("country", "Country code", maxlength=2),
    InlineField("owner_id", "Owner", "select", _owner_choices),
    InlineField("lifecycle", "Lifecycle", "select", _lifecycle_choices),
    InlineField("disqualified_reason", "Disqualified because", maxlength=200),
    InlineField("temperature", "Temperature", "select", _temperature_choices),
    InlineField("stage_id", "Stage", "select", _stage_choices),
    InlineField("value", "Deal value", "money", maxlength=30),
    InlineField("currency", "Currency", "select", _currency_choices),
    InlineField("expected_close_date", "Expected close", "date"),
    InlineField("source", "Source", "select", _source_choices),
    InlineField("utm_source", "UTM source", maxlength=120),
    InlineField("utm_medium", "UTM medium", maxlength=120),
    InlineField("utm_campaign", "UTM campaign", maxlength=120),
    InlineField("utm_term", "UTM term", maxlength=120),
    InlineField("utm_content", "UTM content", maxlength=120),
    InlineField("referrer", "Referrer", maxlength=2000),
    InlineField("landing_page", "Landing page", maxlength=2000),
    InlineField("tags", "Tags", "tags", maxlength=400),
    InlineField("marketing_consent", "Marketing consent", "checkbox"),
)}

CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "title", "organization", "country")
DEAL_FIELDS = ("owner_id", "stage_id", "lifecycle", "disqualified_reason", "temperature", "value",
               "currency", "expected_close_date", "tags", "marketing_consent")
SOURCE_FIELDS = ("source", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
                 "referrer", "landing_page")


def current_input_value(lead, name: str) -> str:
    """The value an inline editor starts with."""
    if name == "organization":
        return lead.organization.name if lead.organization else ""
    if name == "value":
        return "" if lead.value_cents is None else f"{lead.value:.2f}".removesuffix(".00")
    if name == "tags":
        return ", ".join(t.name for t in lead.tags)
    if name == "expected_close_date":
        return lead.expected_close_date.isoformat() if lead.expected_close_date else ""
    value = getattr(lead, name)
    return "" if value is None else str(value)
