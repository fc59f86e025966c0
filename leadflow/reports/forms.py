from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import InputRequired, ValidationError

from leadflow.leads.fields import FieldError, parse_money
from leadflow.reports.targets import parse_month


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
