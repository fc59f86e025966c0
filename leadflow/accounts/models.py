from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from leadflow.db import UTCDateTime, utcnow
from leadflow.extensions import db

ROLES = ("admin", "manager", "rep", "viewer")
ROLE_LABELS = {
    "admin": "Admin — everything, including users and settings",
    "manager": "Manager — edits every lead",
    "rep": "Sales rep — edits own and unassigned leads",
    "viewer": "Viewer — reads only",
}


class Team(db.Model):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    members: Mapped[list[User]] = relationship(back_populates="team", order_by="User.name")

    def __repr__(self) -> str:
        return f"<Team {self.name}>"


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="rep")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on sign-out, password change and deactivation: every session and
    # remember-me cookie carries it, so bumping it ends them all.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    language: Mapped[str] = mapped_column(String(16), default="en")
    working_hours: Mapped[str] = mapped_column(String(64), default="09:00-17:00")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Routing skips a user who is away until this time, or who already owns this many open leads.
    out_of_office_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    max_open_leads: Mapped[int | None] = mapped_column(Integer)

    team: Mapped[Team | None] = relationship(back_populates="members")

    # Flask-Login: the id it stores in the session and the remember cookie.
    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return bool(self.active)

    @property
    def initials(self) -> str:
        parts = [p for p in self.name.split() if p]
        letters = "".join(p[0] for p in parts[:2]) or self.email[:1]
        return letters.upper()

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def can_write(self) -> bool:
        return self.role in ("admin", "manager", "rep")

    @property
    def sees_everything(self) -> bool:
        """Managers and admins edit every lead."""
        return self.role in ("admin", "manager")

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


def user_count() -> int:
    return db.session.scalar(db.select(func.count(User.id)))
