from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, EmailField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from leadflow.accounts.models import ROLE_LABELS
from leadflow.web.formatting import in_your_zone
from leadflow.web.forms import select_choices


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(message="Enter your email.")],
                       render_kw={"autocomplete": "username"})
    password = PasswordField("Password", validators=[DataRequired(message="Enter your password.")],
                             render_kw={"autocomplete": "current-password"})
    remember = BooleanField("Keep me signed in on this device")


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired(message="Enter your current password.")],
                                     render_kw={"autocomplete": "current-password"})
    new_password = PasswordField("New password", validators=[DataRequired(message="Enter a new password.")],
                                 description="At least 12 characters. A phrase of unrelated words works well.",
                                 render_kw={"autocomplete": "new-password"})
    confirm_password = PasswordField("Repeat the new password", validators=[DataRequired(message="Repeat the new password.")],
                                     render_kw={"autocomplete": "new-password"})

    def validate_confirm_password(self, field):
        from wtforms.validators import ValidationError

        if field.data != self.new_password.data:
            raise ValidationError("The two passwords do not match.")


def _role_choices():
    return select_choices(ROLE_LABELS.items())


class UserCreateForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(message="Enter a name."), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(message="Enter an email.")])
    role = SelectField("Role", choices=_role_choices(), default="rep")
    team = StringField("Team", validators=[Length(max=120)], render_kw={"list": "team-names"},
                       description="Pick a team, or type a new team name to create it.")
    timezone = StringField("Timezone", default="UTC", validators=[Length(max=64)])
    password = PasswordField("Initial password", validators=[DataRequired(message="Enter an initial password.")],
                             description="At least 12 characters; share it with the user privately.",
                             render_kw={"autocomplete": "new-password"})


class UserEditForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(message="Enter a name."), Length(max=120)])
    role = SelectField("Role", choices=_role_choices())
    team = StringField("Team", validators=[Length(max=120)], render_kw={"list": "team-names"},
                       description="Pick a team, or leave empty for no team.")
    timezone = StringField("Timezone", validators=[Length(max=64)])
    active = BooleanField("Active (can sign in)")
    out_of_office_until = DateTimeLocalField("Out of office until", format="%Y-%m-%dT%H:%M", validators=[Optional()])
    max_open_leads = IntegerField("Most open leads at once", validators=[Optional(), NumberRange(min=0, max=100000,
                                  message="Enter a whole number from 0 up, or leave empty for no cap.")],
                                  description="Routing skips them at this many open leads. Empty: no cap.")
    new_password = PasswordField("Set a new password", description="Optional. Signs the user out everywhere.",
                                 render_kw={"autocomplete": "new-password"})


def user_edit_form(user, zone) -> UserEditForm:
    """The edit form of ``user`` as stored: the team by its name (never the Team object),
    the out-of-office time in the editor's time zone ``zone``. A POST's data replaces these."""
    away = user.out_of_office_until
    form = UserEditForm(data={
        "name": user.name, "role": user.role, "team": user.team.name if user.team else "",
        "timezone": user.timezone, "active": user.active, "max_open_leads": user.max_open_leads,
        "out_of_office_until": away.astimezone(zone).replace(tzinfo=None) if away else None,
    })
    form.out_of_office_until.description = f"Routing skips them until then. {in_your_zone(zone)} Leave empty when in."
    return form
