from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, SelectMultipleField, StringField
from wtforms.validators import Length

from leadflow.accounts.services import WRITER_ROLES, menu_teams, menu_users
from leadflow.capture.models import CaptureForm
from leadflow.extensions import db
from leadflow.leads.models import SOURCES
from leadflow.organizations.models import SIZE_BANDS
from leadflow.routing.models import STRATEGY_LABELS
from leadflow.web.forms import select_choices


def owner_choices(empty: str) -> list:
    return select_choices([("", empty)] + [(str(u.id), u.name) for u in menu_users(roles=WRITER_ROLES)])


class RoutingRuleForm(FlaskForm):
    name = StringField("Rule name", validators=[Length(max=120)], description="For example: EU inbound.")
    active = BooleanField("Active (paused rules are skipped)", default=True)
    sources = SelectMultipleField("Source is one of", validate_choice=False, description="Leave empty for any source.")
    countries = StringField("Country is one of", description="Two-letter codes separated by commas, e.g. DE, AT, CH.")
    languages = StringField("Language is one of", description="From the lead's language field, e.g. en, de.")
    size_bands = SelectMultipleField("Organization size is one of", validate_choice=False)
    form_ids = SelectMultipleField("Came in through capture form", validate_choice=False)
    interest_field = StringField("Custom field", description="Product interest: the custom field to look at, e.g. product.")
    interest_contains = StringField("…contains the text")
    target_kind = RadioField("Give matching leads to", choices=select_choices([("user", "A person"), ("team", "A team")]),
                             default="user", validate_choice=False)
    target_user_id = SelectField("Person", validate_choice=False)
    target_team_id = SelectField("Team", validate_choice=False)
    strategy = SelectField("How to pick within the team", choices=select_choices(STRATEGY_LABELS.items()),
                           validate_choice=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sources.choices = select_choices((s, s) for s in SOURCES)
        self.size_bands.choices = select_choices((b, b) for b in SIZE_BANDS)
        forms = db.session.execute(db.select(CaptureForm.id, CaptureForm.name).order_by(CaptureForm.name)).all()
        self.form_ids.choices = select_choices((str(i), n) for i, n in forms)
        self.target_user_id.choices = owner_choices("Choose a person…")
        self.target_team_id.choices = select_choices([("", "Choose a team…")]
                                                     + [(str(t.id), t.name) for t in menu_teams()])

    def load(self, rule) -> None:
        c = rule.conditions or {}
        self.name.data, self.active.data = rule.name, rule.active
        self.sources.data, self.size_bands.data = c.get("sources", []), c.get("size_bands", [])
        self.form_ids.data = [str(i) for i in c.get("form_ids", [])]
        self.countries.data = ", ".join(c.get("countries", []))
        self.languages.data = ", ".join(c.get("languages", []))
        self.interest_field.data = (c.get("interest") or {}).get("field", "")
        self.interest_contains.data = (c.get("interest") or {}).get("contains", "")
        self.target_kind.data, self.strategy.data = rule.target_kind, rule.strategy
        self.target_user_id.data = str(rule.target_user_id or "")
        self.target_team_id.data = str(rule.target_team_id or "")

    def service_data(self) -> dict:
        return {name: getattr(self, name).data for name in (
            "name", "active", "sources", "countries", "languages", "size_bands", "form_ids", "interest_field",
            "interest_contains", "target_kind", "target_user_id", "target_team_id", "strategy")}


class FallbackForm(FlaskForm):
    fallback_owner_id = SelectField("Fallback owner", validate_choice=False, description="Gets new leads no rule places. Empty: they stay unassigned.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fallback_owner_id.choices = owner_choices("Nobody (leave unassigned)")
