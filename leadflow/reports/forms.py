"""The source cost form (/settings/source-costs) and the monthly target form (/settings/targets)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import MonthField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError

from leadflow.governance.models import CURRENCIES
from leadflow.leads.fields import FieldError, parse_money
from leadflow.leads.models import SOURCES
from leadflow.reports.targets import parse_month
from leadflow.web.forms import select_choices


class SourceCostForm(FlaskForm):
    source = SelectField("Source", choices=select_choices((s, s.capitalize()) for s in SOURCES),
                         validators=[DataRequired(message="Choose a source.")])
    month = MonthField("Month", validators=[InputRequired(message="Choose a month (YYYY-MM).")],
                       description="Saving a source and month that has a cost already replaces it.")
    amount = StringField("Amount", validators=[InputRequired(message="Enter an amount, such as 1500 or 1,500.50."),
                                               Length(max=20)],
                         render_kw={"inputmode": "decimal", "autocomplete": "off"})
    currency = SelectField("Currency", choices=select_choices((c, c) for c in CURRENCIES))

    def amount_cents(self) -> int | None:
        """The amount in cents, or None with the reason on the field."""
        try:
            cents = parse_money(self.amount.data)
        except FieldError as error:
            self.amount.errors = [*self.amount.errors, str(error).replace("value", "amount")]
            return None
        if cents is None:
            self.amount.errors = [*self.amount.errors, "Enter an amount, such as 1500 or 1,500.50."]
        return cents


class TargetForm(FlaskForm):
    """A monthly target: the month, which pipeline (or all) and the won value aimed for."""

    # A month input where the browser has one, text "YYYY-MM" elsewhere: read by ``parse_month``.
    month = StringField("Month", validators=[InputRequired(message="Choose a month.")],
                        render_kw={"type": "month", "placeholder": "YYYY-MM", "pattern": r"\d{4}-\d{2}"})
    pipeline = SelectField("Pipeline", choices=[], description="A target for all pipelines is shown when no pipeline is chosen.")
    amount = StringField("Target won value", validators=[InputRequired(message="Enter an amount, for example 25000.")],
                         render_kw={"inputmode": "decimal", "autocomplete": "off"})

    def validate_month(self, field):
        try:
            self.first_day = parse_month(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    def validate_amount(self, field):
        try:
            self.amount_cents = parse_money(field.data)
        except FieldError as exc:
            raise ValidationError(str(exc)) from None
