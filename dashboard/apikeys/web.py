"""The server's HMAC key for API key secrets, computed once per app."""

from __future__ import annotations

from flask import current_app

from dashboard.apikeys import tokens


def hmac_key() -> bytes:
    """The key new API keys are hashed with."""
    return hmac_keys()[0]


def hmac_keys() -> tuple[bytes, ...]:
    """Every key a presented API key may be checked with: the current one first, then the
    old ones being rotated out (see tokens.server_keys)."""
    keys = current_app.extensions.get("tenantdesk.apikey_hmac_keys")
    if keys is None:
        config = current_app.config
        keys = tokens.server_keys(
            config.get("API_KEY_HMAC_KEY"), config["SECRET_KEY"],
            config.get("API_KEY_HMAC_KEY_FALLBACKS") or (),
            config.get("SECRET_KEY_FALLBACKS") or (),
        )
        current_app.extensions["tenantdesk.apikey_hmac_keys"] = keys
    return keys
