from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from leadflow.accounts import services
from leadflow.accounts.forms import ChangePasswordForm, LoginForm, UserCreateForm, user_edit_form
from leadflow.accounts.models import Team, User
from leadflow.accounts.zones import user_zone
from leadflow.errors import ValidationFailed
from leadflow.extensions import db, limiter
from leadflow.governance.audit import record_event
from leadflow.web.forms import apply_errors
from leadflow.web.htmx import redirect_to, render_page
from leadflow.web.permissions import admin_required
from leadflow.web.ratelimits import breached_limits, reset_time, retry_after_seconds, wait_phrase

bp = Blueprint("accounts", __name__)

LOGIN_FAILED = "That email and password do not match an active account."
ACCOUNT_KEY_PREFIX = "login:"


def safe_next_url(target: str | None) -> str:
    """Only same-site paths are followed after sign-in (no open redirect).

    Browsers read ``\\`` as ``/`` and drop tabs and newlines, so ``/\\evil.com`` or
    ``/<tab>/evil.com`` would become ``//evil.com``: any of those is refused outright.
    """
    fallback = url_for("dashboard.index")
    if not target or any(ord(ch) < 0x20 or ch in "\\\x7f" for ch in target):
        return fallback
    if not target.startswith("/") or target.startswith("//"):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return fallback
    return target


def _login_account_key() -> str:
    return ACCOUNT_KEY_PREFIX + (request.form.get("email") or "").strip().lower()


def _login_throttled() -> str:
    """Whose sign-in limit was hit, and the real wait: the per-account limit lasts up to an
    hour, so "a minute" would be a lie. The same figure goes out as Retry-After."""
    longest = max(breached_limits(), key=reset_time, default=None)
    per_account = longest is not None and any(
        str(arg).startswith(ACCOUNT_KEY_PREFIX) for arg in longest.request_args)
    whose = "for this account" if per_account else "from your network"
    return f"Too many sign-in attempts {whose}. Try again in {wait_phrase(retry_after_seconds())}."


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"],
               error_message=_login_throttled)
@limiter.limit(lambda: current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"], methods=["POST"],
               key_func=_login_account_key, error_message=_login_throttled)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None:
            # A new session for the signed-in user: nothing from before sign-in (its CSRF
            # token above all) carries over. Remember-me and ?next= come with this request.
            session.clear()
            login_user(user, remember=form.remember.data)
            flash(f"Welcome back, {user.name}.", "success")
            return redirect(safe_next_url(request.args.get("next")))
        form.form_errors.append(LOGIN_FAILED)
        status = 422
    elif form.is_submitted():
        status = 422
    return render_page("accounts/login.html", form=form, status=status)


@bp.post("/logout")
@login_required
def logout():
    services.end_all_sessions(current_user._get_current_object())
    logout_user()
    flash("You are signed out on every device.", "info")
    return redirect_to(url_for("accounts.login"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    form = ChangePasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            services.change_password(current_user._get_current_object(), form.current_password.data, form.new_password.data)
        except ValidationFailed as exc:
            apply_errors(form, exc.errors)
            status = 422
        else:
            db.session.flush()
            # Other sessions end; this one goes on with the new session version.
            login_user(current_user._get_current_object(), remember=bool(request.cookies.get("remember_token")))
            flash("Password changed. Every other session has been signed out.", "success")
            return redirect(url_for("accounts.account"))
    elif form.is_submitted():
        status = 422
    return render_page("accounts/account.html", form=form, status=status)


@bp.get("/settings/users")
@admin_required
def users():
    people = db.session.scalars(db.select(User).order_by(User.active.desc(), User.name)).all()
    teams = db.session.scalars(db.select(Team).order_by(Team.name)).all()
    return render_page("accounts/users.html", users=people, teams=teams)


@bp.route("/settings/users/new", methods=["GET", "POST"])
@admin_required
def new_user():
    form = UserCreateForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = services.create_user(email=form.email.data, password=form.password.data, role=form.role.data,
                                        name=form.name.data, team=form.team.data, timezone=form.timezone.data or "UTC")
        except ValidationFailed as exc:
            apply_errors(form, exc.errors)
            status = 422
        else:
            record_event(current_user, "user", user.id, "create", f"{user.email} ({user.role})")
            flash(f"User {user.email} created.", "success")
            return redirect(url_for("accounts.users"))
    elif form.is_submitted():
        status = 422
    return render_page("accounts/user_form.html", form=form, user=None, teams=services.team_names(), status=status)


@bp.route("/settings/users/<int:user_id>", methods=["GET", "POST"])
@admin_required
def edit_user(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    zone = user_zone(current_user)
    form = user_edit_form(user, zone)
    status = 200
    if form.validate_on_submit():
        try:
            services.update_user(current_user, user, name=form.name.data, role=form.role.data,
                                 team=form.team.data, active=form.active.data, timezone=form.timezone.data or "UTC")
            services.set_routing_limits(current_user, user, out_of_office_until=form.out_of_office_until.data,
                                        max_open_leads=form.max_open_leads.data, zone=zone)
            if form.new_password.data:
                try:
                    services.set_password(user, form.new_password.data)
                except ValidationFailed as exc:
                    raise ValidationFailed({"new_password": exc.errors["password"]}) from exc
        except ValidationFailed as exc:
            db.session.rollback()
            apply_errors(form, exc.errors)
            status = 422
        else:
            db.session.flush()
            if user.id == current_user.id and form.new_password.data:
                # An admin who resets their own password stays signed in here, like /account.
                login_user(user, remember=bool(request.cookies.get("remember_token")))
            flash(f"User {user.email} saved.", "success")
            return redirect(url_for("accounts.users"))
    elif form.is_submitted():
        status = 422
    return render_page("accounts/user_form.html", form=form, user=user, teams=services.team_names(), status=status)
