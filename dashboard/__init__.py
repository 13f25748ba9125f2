"""Tenantdesk: create_app() wires config, extensions and blueprints — nothing else."""

from __future__ import annotations

from flask import Flask

from dashboard.config import PROJECT_ROOT
from dashboard.flask_app import App


def create_app(test_config: dict | None = None) -> Flask:
    from dashboard import config, db, errors, ops, provisioning, ratelimits, security, tenancy, web
    from dashboard.accounts import init_app as init_accounts
    from dashboard.admin import console as admin_console
    from dashboard.admin import routes as admin_routes
    from dashboard.admin import support_mode
    from dashboard.api import auth as api_auth
    from dashboard.api import errors as api_errors
    from dashboard.api import routes as api_routes
    from dashboard.apikeys import routes as apikey_routes
    from dashboard.audit import routes as audit_routes
    from dashboard.auth import access_tokens, account_routes, principal, token_routes
    from dashboard.auth import routes as auth_routes
    from dashboard.auth.passwords import Passwords
    from dashboard.devmail import init_app as init_devmail
    from dashboard.events import routes as event_routes
    from dashboard.events import stream_routes
    from dashboard.hosts import init_app as init_hosts
    from dashboard.inputguard import init_app as init_inputguard
    from dashboard.licenses import routes as license_routes
    from dashboard.licenses import web as license_web
    from dashboard.lifecycle import routes as lifecycle_routes
    from dashboard.mail import init_app as init_mail
    from dashboard.members import init_app as init_members
    from dashboard.orgs import context as org_context
    from dashboard.orgs import routes as org_routes
    from dashboard.partner import routes as partner_routes
    from dashboard.scim import api as scim_api
    from dashboard.scim import routes as scim_routes
    from dashboard.sso import login as sso_login
    from dashboard.sso import logout as sso_logout
    from dashboard.sso import routes as sso_routes
    from dashboard.tiers import routes as tier_routes
    from dashboard.tiers import web as tiers_web
    from dashboard.trust import routes as trust_routes
    from dashboard.usage import routes as usage_routes

    app = App(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(config.from_environment())
    if test_config:
        app.config.update(test_config)

    urls = app.config.get("DATABASE_URLS") or provisioning.resolve_urls(app.config)
    database = db.connect(
        urls,
        pool_size=app.config["DB_POOL_SIZE"],
        pooler=app.config["DATABASE_POOLER"],
        connect_timeout=app.config["DB_CONNECT_TIMEOUT"],
    )
    db.check_runtime_role(database.engine)
    app.extensions["tenantdesk.db"] = database
    app.extensions["tenantdesk.passwords"] = Passwords(
        app.config["ARGON2_TIME_COST"], app.config["ARGON2_MEMORY_COST"]
    )

    ops.init_app(app)  # first: its probes answer before every other request hook
    init_inputguard(app)  # then: bad input is refused before anything else runs
    access_tokens.init_app(app)
    tenancy.init_app(app)
    security.init_app(app)
    init_hosts(app)  # the host's org is known before the principal is loaded
    principal.init_app(app)
    org_context.init_app(app)
    web.init_app(app)
    errors.init_app(app)
    license_web.init_app(app)
    support_mode.init_app(app)
    init_mail(app)
    init_devmail(app)
    api_auth.init_app(app)  # before the rate limiter: it counts per credential
    api_errors.init_app(app)
    ratelimits.init_app(app)
    tiers_web.init_app(app)

    app.register_blueprint(auth_routes.bp)
    app.register_blueprint(account_routes.bp)
    app.register_blueprint(token_routes.bp)
    app.register_blueprint(org_routes.bp)
    app.register_blueprint(audit_routes.bp)
    app.register_blueprint(lifecycle_routes.bp)
    app.register_blueprint(partner_routes.bp)
    app.register_blueprint(license_routes.bp)
    app.register_blueprint(usage_routes.bp)
    app.register_blueprint(admin_routes.bp)
    app.register_blueprint(admin_console.bp)
    app.register_blueprint(admin_console.exit_bp)
    app.register_blueprint(sso_routes.bp)
    app.register_blueprint(tier_routes.bp)
    app.register_blueprint(sso_login.bp)
    app.register_blueprint(sso_logout.bp)
    app.register_blueprint(trust_routes.bp)
    init_members(app)
    init_accounts(app)
    app.register_blueprint(apikey_routes.bp)
    app.register_blueprint(api_routes.bp)
    app.register_blueprint(scim_api.bp)
    app.register_blueprint(scim_routes.bp)
    app.register_blueprint(event_routes.bp)
    app.register_blueprint(stream_routes.bp)
    return app
