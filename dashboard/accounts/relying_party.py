"""The WebAuthn relying party of this request: the host the person is on, when it is one we
serve, never whatever the Host header says.

- An org's host (``<slug><TENANT_HOST_SUFFIX>`` or a verified custom domain), as resolved by
  ``dashboard.hosts`` before the principal loads: its own RP ID and origin, rebuilt from the
  parsed host name and port (``HostOrg.base_url``), so a passkey made there works there.
- Anything else (the installation's host, an IP address, an unknown or forged host): the
  installation's relying party (``WEBAUTHN_RP_ID`` / ``WEBAUTHN_ORIGIN``, else BASE_URL's).
  A browser on an unknown host then fails the origin check, which is the point.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app

from dashboard.accounts.passkeys import RelyingParty
from dashboard.hosts import current_host


def installation_rp() -> RelyingParty:
    config = current_app.config
    base = urlsplit(config["BASE_URL"])
    rp_id = config.get("WEBAUTHN_RP_ID") or base.hostname or "localhost"
    return RelyingParty(
        id=rp_id, name=config.get("WEBAUTHN_RP_NAME") or "Tenantdesk",
        origin=(config.get("WEBAUTHN_ORIGIN") or f"{base.scheme}://{base.netloc}").rstrip("/"),
        installation_id=rp_id,
    )


def relying_party() -> RelyingParty:
    installation = installation_rp()
    host = current_host()
    if host is None:
        return installation
    parts = urlsplit(host.base_url)
    return RelyingParty(
        id=parts.hostname or installation.id,
        name=(host.branding or {}).get("display_name") or host.name,
        origin=host.base_url, installation_id=installation.id,
    )
