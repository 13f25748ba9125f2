"""SCIM bearer tokens: the API key machinery (dashboard/apikeys/) with their own shape.

A token reads ``td_scim_<prefix>_<secret>``; it is stored the same way as an API key
(HMAC-SHA-256 under the server key, as kind 'scim' in ``org_credentials``), found by prefix
through ``app_scim_token_lookup`` and then opens its org's context, where the gate decides.
No Flask here.
"""

from __future__ import annotations

import re

from sqlalchemy import text

from dashboard.apikeys import tokens

TOKEN_PREFIX = "td_scim_"  # noqa: S105 - the public shape of a token, not a secret
_TOKEN_RE = re.compile(r"^td_scim_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$")
LOOKUP_SQL = text(
    "SELECT credential_id, org_id, secret_hash, scopes, state FROM app_scim_token_lookup(:prefix)"
)


def generate() -> tuple[str, str, str]:
    """A fresh (prefix, secret, plaintext token)."""
    prefix, secret, _ = tokens.generate()
    return prefix, secret, f"{TOKEN_PREFIX}{prefix}_{secret}"


def parse(token: str) -> tokens.ParsedKey | None:
    match = _TOKEN_RE.match(token or "")
    return tokens.ParsedKey(match.group(1), match.group(2)) if match else None


def display(prefix: str) -> str:
    return f"{TOKEN_PREFIX}{prefix}_…"
