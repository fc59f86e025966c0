"""Forms of the scoring admin. The services check the values (choices included, so every
problem comes back with its own message); the forms render and carry CSRF."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import Optional

from leadflow.activities.models import kind_label
from leadflow.governance.money import base_currency
from leadflow.scoring.models import CATEGORY_LABELS, FIELD_LABELS, OPERATOR_LABELS
from leadflow.scoring.services import ENGAGEMENT_KINDS
from leadflow.web.forms import select_choices


class RuleForm(FlaskForm):
    name = StringField("Name", render_kw={"maxlength": 120, "required": True},
                       description="What the rule rewards, as people will read it on the lead page.")
    category = SelectField("Looks at", validate_choice=False, choices=select_choices(CATEGORY_LABELS.items()))
    points = StringField("Points", render_kw={"inputmode": "numeric"},
                         description="Negative points take points away. For activities: points for each one.")
    field = SelectField("Lead field", validate_choice=False, choices=select_choices([("", "Choose a field"), *FIELD_LABELS.items()]))
    custom_key = StringField("Custom field key", render_kw={"maxlength": 64},
                             description="Only for a custom field: its key, as on the capture form.")
    operator = SelectField("Comparison", validate_choice=False, choices=select_choices([("", "Choose"), *OPERATOR_LABELS.items()]))
    value = StringField("Value", description="For “is one of”, separate values with commas.")
    activity_kind = SelectField("Activity", validate_choice=False, choices=select_choices(
        [("", "Choose an activity"), *((k, kind_label(k)[0]) for k in ENGAGEMENT_KINDS)]))
    contains = StringField("Only when its subject or details contain", render_kw={"maxlength": 200},
                           description="Optional, for example “pricing” for visits to the pricing page.")
    cap = StringField("At most (points in total)", render_kw={"inputmode": "numeric"},
                      description="Optional: the most this rule can give, however many activities.")
    days = StringField("Days without activity", render_kw={"inputmode": "numeric"})

    FIELDS = ("name", "category", "points", "field", "custom_key", "operator", "value", "activity_kind",
              "contains", "cap", "days")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        base = base_currency()  # a deal value is compared in the base currency: the form says which
        labels = {**FIELD_LABELS, "value": f"Deal value ({base}, base currency)"}
        self.field.choices = select_choices([("", "Choose a field"), *labels.items()])
        self.value.description = (f"For “is one of”, separate values with commas. A deal value is in {base}, "
                                  "the base currency: a lead's value in another currency is converted at the "
                                  "workspace's rate, and one in a currency without a rate matches no amount.")

    def values(self) -> dict:
        return {name: getattr(self, name).data for name in self.FIELDS}


class ThresholdsForm(FlaskForm):
    warm_at = IntegerField("Warm from score", validators=[Optional()], render_kw={"min": 1, "inputmode": "numeric"})
    hot_at = IntegerField("Hot from score", validators=[Optional()], render_kw={"min": 1, "inputmode": "numeric"})
    lifecycle_auto = BooleanField("Move lifecycle forward automatically (Lead → MQL → SQL)")
    mql_at = IntegerField("MQL from score", validators=[Optional()], render_kw={"min": 1, "inputmode": "numeric"})
    sql_at = IntegerField("SQL from score", validators=[Optional()], render_kw={"min": 1, "inputmode": "numeric"})
    half_life_days = IntegerField(
        "Engagement points halve every (days)", validators=[Optional()], render_kw={"min": 0, "inputmode": "numeric"},
        description="0 keeps engagement points at full value forever.")

    FIELDS = ("warm_at", "hot_at", "lifecycle_auto", "mql_at", "sql_at", "half_life_days")

    def values(self) -> dict:
        return {name: getattr(self, name).data for name in self.FIELDS}
