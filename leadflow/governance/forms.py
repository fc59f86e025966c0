from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from leadflow.leads.models import CURRENCIES
from leadflow.web.forms import select_choices


class WorkspaceForm(FlaskForm):
    workspace_name = StringField("Workspace name", validators=[DataRequired(message="Enter a workspace name."), Length(max=80)])
    default_phone_region = SelectField("Default phone region", choices=[],
                                       description="Phone numbers typed without a country code are read as this region's.")
    default_currency = SelectField("Default currency", choices=select_choices((c, c) for c in CURRENCIES))
