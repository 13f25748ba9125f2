"""Access tokens over HTTP: mint one from the browser session, publish the public keys, and
``GET /api/v1/me`` - the smallest API call, proving a bearer token end to end."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request

from dashboard.auth.access_tokens import issue_for_request, keyring_for
from dashboard.auth.bearer import unauthorized
from dashboard.auth.signing_keys import KeyUnavailable
from dashboard.errors import json_error
from dashboard.permissions import authenticated, public

bp = Blueprint("tokens", __name__)


@bp.route("/auth/token", methods=["POST"])
@authenticated
def access_token():
    """A short-lived JWT for the active org of this browser session (CSRF-protected POST).

    An optional ``org`` field names the org the caller believes is active: if another tab
    switched meanwhile, the answer is 409 instead of a token for an org the caller did not
    mean.
    """
    membership = g.get("membership")
    if membership is None:
        return json_error(409, "no_active_org", "Choose an organization first.")
    expected = request.form.get("org") or (request.get_json(silent=True) or {}).get("org")
    if expected and expected != membership.slug:
        return json_error(
            409, "org_switched", f"You switched to {membership.name} in another tab."
        )
    try:
        issued = issue_for_request(membership, g.principal)
    except KeyUnavailable:
        current_app.logger.exception("cannot sign access tokens")
        return json_error(503, "signing_unavailable", "Access tokens cannot be issued now.")
    response = jsonify(
        access_token=issued.token,
        token_type="Bearer",  # noqa: S106 - the OAuth token type, not a secret
        expires_in=issued.expires_in,
        org_id=str(membership.org_id),
        org_slug=membership.slug,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/.well-known/jwks.json")
@public
def jwks():
    response = jsonify(keyring_for(current_app).jwks())
    # Short: a rotation must reach verifiers well within a token's lifetime.
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.route("/api/v1/me")
@authenticated
def me():
    """Who the bearer token speaks for, with the role read now (not the token's claim).

    Bearer tokens only: a browser cookie alone is answered 401, like no credentials.
    """
    if g.get("access_claims") is None:
        return unauthorized("missing_token", "Send Authorization: Bearer <access token>.")
    principal, membership = g.principal, g.membership
    return jsonify(
        user={"id": str(principal.user_id), "email": principal.email, "name": principal.name},
        org={
            "id": str(membership.org_id),
            "slug": membership.slug,
            "name": membership.name,
            "role": membership.role,
            "permissions": sorted(membership.permissions),
        },
    )
