"""LeadFlow: a self-hosted CRM for lead tracking and pipeline control."""

from __future__ import annotations

import os

from flask import Flask


def create_app(config: object | str | None = None, *, migrations: bool = True) -> Flask:
    """Build the app. Wiring only: no I/O, no migrations, no scheduler start.

    ``migrations=False``: without Flask-Migrate and Alembic (the ``flask db`` commands) and
    without the ``flask leadflow`` commands, for a process that only serves."""
    from config import CONFIGS, INSTANCE_DIR
    from leadflow.retry import LeadFlowApp, install_commit_tracking

    app = LeadFlowApp(
        __name__,
        instance_path=str(INSTANCE_DIR),
        template_folder="../templates",
        static_folder="../static",
    )
    if config is None:
        config = os.environ.get("LEADFLOW_CONFIG", "production")
    if isinstance(config, str):
        config = CONFIGS[config]
    app.config.from_object(config)
    from leadflow.secret_key import resolve_secret_key

    app.config["SECRET_KEY"] = resolve_secret_key(app.config, app.instance_path)

    from sqlalchemy.engine import make_url

    from leadflow.extensions import csrf, db, htmx, limiter, login_manager
    from leadflow.db import configure_postgresql_engine, configure_sqlite_engine, state_index_predicates

    if make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() == "postgresql":
        from leadflow import pgdriver

        pgdriver.load_dialect()  # before the engine: without the other drivers' dialects
    db.init_app(app)
    from leadflow.leads.models import compared_with_models

    if migrations:
        from flask_migrate import Migrate

        Migrate(app, db, directory=str(os.path.join(app.root_path, "..", "migrations")), render_as_batch=True,
                compare_type=True, include_name=compared_with_models)
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    with app.app_context():
        configure_sqlite_engine(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"], app.config["SQLITE_CHECKPOINT_SECONDS"])
        if db.engine.dialect.name == "postgresql":
            from leadflow import pgdriver

            configure_postgresql_engine(db.engine, pgdriver.configure_connection)
        if app.config.get("LEAD_STORE_GUARD"):
            from leadflow.leads.store import guard

            guard(app, db.engine)
    install_commit_tracking()
    from leadflow.db import install_inserts_together
    from leadflow.leads.store import install_totals_at_commit
    from leadflow.web import refcache

    install_totals_at_commit()
    install_inserts_together()
    refcache.install()

    if app.config.get("TRUST_PROXY"):
        from leadflow.serving import TrustedProxyFix

        app.wsgi_app = TrustedProxyFix(app.wsgi_app, app.config["TRUSTED_PROXY"])

    from leadflow import models  # noqa: F401  (registers every table)

    with app.app_context():
        for engine in db.engines.values():
            state_index_predicates(db.metadata, engine.dialect.name)

    from leadflow.accounts.services import load_session_user
    from leadflow.governance import settings
    from leadflow.leads import templating
    from leadflow.web import init_web
    from leadflow.wiring import register_hooks

    register_hooks()  # every area's arrival steps, event handlers and sweeps, in every process

    init_web(app, load_user=load_session_user)
    settings.register_template_helpers(app)
    templating.register_template_helpers(app)

    from leadflow.accounts.views import bp as accounts_bp
    from leadflow.activities.views import bp as activities_bp
    from leadflow.api.views import bp as api_bp
    from leadflow.api.admin import bp as api_admin_bp
    from leadflow.capture.views import bp as capture_bp
    from leadflow.capture.admin import bp as capture_admin_bp
    from leadflow.dashboard.views import bp as dashboard_bp
    from leadflow.governance.views import bp as governance_bp
    from leadflow.leads.views import bp as leads_bp
    from leadflow.imports.views import bp as imports_bp
    from leadflow.organizations.views import bp as organizations_bp
    from leadflow.mail.views import bp as mail_bp
    from leadflow.pipeline.admin import bp as pipeline_admin_bp
    from leadflow.pipeline.views import bp as pipeline_bp
    from leadflow.reports.admin import bp as source_costs_bp
    from leadflow.reports.views import bp as reports_bp
    from leadflow.reports.targets_admin import targets_bp
    from leadflow.routing.views import bp as routing_bp
    from leadflow.scoring.views import bp as scoring_bp
    from leadflow.sequences.views import bp as sequences_bp
    from leadflow.sequences.public import bp as mail_links_bp
    from leadflow.workflows.views import bp as workflows_bp
    from leadflow.health import bp as health_bp

    # The public capture form and the token-authenticated API are the only routes
    # without session CSRF; each has defences of its own.
    csrf.exempt(capture_bp)
    csrf.exempt(api_bp)
    csrf.exempt(mail_links_bp)  # one-click unsubscribe from a mail client: a signed token, no session
    for blueprint in (accounts_bp, dashboard_bp, leads_bp, organizations_bp, governance_bp, pipeline_bp,
                      pipeline_admin_bp, activities_bp, mail_bp, capture_bp, capture_admin_bp, imports_bp,
                      api_bp, api_admin_bp, scoring_bp, routing_bp, workflows_bp, sequences_bp, mail_links_bp, health_bp,
                      reports_bp, source_costs_bp, targets_bp):
        app.register_blueprint(blueprint)

    if migrations:
        from leadflow.cli import leadflow_cli

        app.cli.add_command(leadflow_cli)
    return app
