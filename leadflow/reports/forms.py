"""The source cost form (/settings/source-costs)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import MonthField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from leadflow.governance.models import CURRENCIES
from leadflow.leads.fields import FieldError, parse_money
from leadflow.leads.models import SOURCES
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
