"""The server's HMAC key for API key secrets, computed once per app."""

from __future__ import annotations

from flask import current_app

from dashboard.apikeys import tokens


def hmac_key() -> bytes:
    key = current_app.extensions.get("tenantdesk.apikey_hmac")
    if key is None:
        config = current_app.config
        key = tokens.server_key(config.get("API_KEY_HMAC_KEY"), config["SECRET_KEY"])
        current_app.extensions["tenantdesk.apikey_hmac"] = key
    return key
