"""A person's own account: sign-up, password reset, profile, MFA, passkeys, step-up, and the
per-org security policy. ``init_app`` wires it into the app factory."""

from __future__ import annotations


def init_app(app) -> None:
    from dashboard.accounts import (  # noqa: F401 - the route modules add to routes.bp
        background,
        enforcement,
        mfa_routes,
        policy_routes,
        profile_routes,
        reauth,
        routes,
        signin,
        time_zone,
    )

    background.init_app(app)
    enforcement.init_app(app)
    app.register_blueprint(routes.bp)
