"""The organization form."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import Length

from leadflow.organizations.models import SIZE_BANDS
from leadflow.web.forms import select_choices


class OrganizationForm(FlaskForm):
    """Create or edit an organization. Rules live in ``organizations.services``; this form carries the input."""

    FIELDS = ("name", "domain", "industry", "size_band", "territory")

    name = StringField("Name", validators=[Length(max=200)])
    domain = StringField("Website domain", validators=[Length(max=253)], description="For example example.com")
    industry = StringField("Industry", validators=[Length(max=80)])
    size_band = SelectField("Size", choices=[], validate_choice=False)
    territory = StringField("Territory", validators=[Length(max=80)])
    # The version the edit form was loaded with (optimistic locking); rendered as a hidden input.
    version = StringField("Version")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.size_band.choices = select_choices([("", "—")] + [(s, f"{s} people") for s in SIZE_BANDS])

    def service_data(self) -> dict:
        return {name: self[name].data for name in self.FIELDS}

    def expected_version(self) -> int | None:
        try:
            return int(self.version.data)
        except (TypeError, ValueError):
            return None
