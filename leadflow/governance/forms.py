from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from leadflow.governance.models import CURRENCIES
from leadflow.web.forms import select_choices


class WorkspaceForm(FlaskForm):
    workspace_name = StringField("Workspace name", validators=[DataRequired(message="Enter a workspace name."), Length(max=80)])
    default_phone_region = SelectField("Default phone region", choices=[],
                                       description="Phone numbers typed without a country code are read as this region's.")
    default_currency = SelectField("Default currency", choices=select_choices((c, c) for c in CURRENCIES))

    # Alerts and the digest. Left empty, a field keeps its current value.
    speed_to_lead_minutes = IntegerField(
        "Speed-to-lead alert after (minutes)", validators=[Optional()], render_kw={"min": 1, "max": 1440, "inputmode": "numeric"},
        description="A new lead nobody has called, e-mailed or met by then: its owner gets an e-mail.")
    escalate_after_minutes = IntegerField(
        "Escalate to managers after (minutes)", validators=[Optional()], render_kw={"min": 1, "max": 10080, "inputmode": "numeric"},
        description="Still no response by then: every manager and admin gets an e-mail.")
    stale_after_days = IntegerField(
        "A lead is stale after (days without activity)", validators=[Optional()], render_kw={"min": 1, "max": 365, "inputmode": "numeric"},
        description="Stale leads are listed in the morning digest and marked on the board.")
    digest_hour = IntegerField(
        "Morning digest at (hour, 0–23)", validators=[Optional()], render_kw={"min": 0, "max": 23, "inputmode": "numeric"},
        description="In each person's own time zone: their overdue and today's tasks and stale leads.")

    ALERT_FIELDS = ("speed_to_lead_minutes", "escalate_after_minutes", "stale_after_days", "digest_hour")

    def alert_data(self) -> dict:
        return {name: getattr(self, name).data for name in self.ALERT_FIELDS}


class BaseCurrencyForm(FlaskForm):
    base_currency = SelectField("Base currency", choices=select_choices((c, c) for c in CURRENCIES),
                                description="Every total (board columns, forecast) is shown in it.")
