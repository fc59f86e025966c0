from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from leadflow.accounts.models import User
from leadflow.extensions import db
from leadflow.web.forms import select_choices


class TokenForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(message="Give the token a name."), Length(max=80)],
                       description="Say which program uses it, e.g. “Website sign-up form”.")
    user_id = SelectField("Acts as", description="The token has this user's permissions; a viewer's token can only read.")
    scope_read = BooleanField("Read leads", default=True)
    scope_write = BooleanField("Create and update leads", default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        users = db.session.execute(db.select(User.id, User.name, User.email, User.role)
                                   .where(User.active.is_(True)).order_by(User.name)).all()
        self.user_id.choices = select_choices((str(u.id), f"{u.name} ({u.email}, {u.role})") for u in users)

    @property
    def scopes(self) -> list[str]:
        return [s for s, on in (("read", self.scope_read.data), ("write", self.scope_write.data)) if on]
