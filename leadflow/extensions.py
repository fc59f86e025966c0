"""Extensions, made unbound at module level and bound in ``create_app``.

Flask-Migrate is not among them: it imports Alembic (11 MB resident), which only the
``flask db`` commands and the code that migrates need; ``create_app(migrations=False)``
(a gunicorn worker, see ``wsgi.py``) leaves it out.

Two modules these extensions import with themselves are left unrun (``leadflow.lazymodules``):
the ``limits`` package's asyncio storages and strategies (``limits.aio``, 0.4 MB; the rate
limits count in a synchronous storage, ``RATELIMIT_STORAGE_URI``: memory or Redis), and
``urllib.request`` (0.25 MB), which Flask-WTF imports for its reCAPTCHA check, a field
LeadFlow has none of."""

from leadflow.lazymodules import left_unrun

with left_unrun(["limits.aio", "urllib.request"]):
    from flask_limiter import Limiter
    from flask_limiter.util import get_remote_address
    from flask_wtf import CSRFProtect
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from htmx_flask import Htmx
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = Htmx()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
