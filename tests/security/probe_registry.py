"""The isolation prober's registry: EXTEND THIS FILE WHEN YOU ADD A ROUTE.

tests/security/test_isolation_prober.py walks ``app.url_map``, signs in as the owner of org A
and calls every route with org B's slug and ids of org B's real objects. It asks this module
how to fill each URL parameter, what a plausible form looks like, and what to leave out.

1. A new URL parameter name (``/o/<slug>/invitations/<uuid:invitation_id>``) needs a PROVIDER.
   Without one the prober FAILS, naming the parameter. A provider creates a real object in
   the org it is given (with tests/factories.py) and returns the value for the URL::

       @provides("invitation_id")
       def _invitation(org: ProbeOrg) -> str:
           invitation = factories.InvitationFactory(
               org_id=org.id, email=org.email("invitee"), invited_by=org.owner.id
           )
           return str(invitation.id)

   Put ``org.marker`` in every name, email or label you create (``org.email(...)``,
   ``org.label(...)`` do it for you) so a leak of org B's data into a response is spotted,
   but never in a value that goes into the URL (a 404 page may echo the URL). A provider is
   called once per org (A for the control pass, B for the attack); results are cached.
   Secrets (invitation tokens) are stored hashed: create the object with a raw token you
   choose and return that raw token.

2. A state-changing route whose form the prober's generic data does not satisfy (it answers
   400 instead of reaching the object look-up): add ``FORM_DATA["<endpoint>"]``.

3. A route authenticated otherwise than by the browser session (API key, SCIM bearer token):
   add ``AUTH_SCHEMES["/api/"] = fn(org A) -> headers`` so the probe really gets in.

4. A route that must not be probed at all: ``EXCLUDED["<endpoint>"] = "why"``. The list is
   reviewed like code, and a test fails if it names an endpoint that no longer exists. A
   capability URL (``/invitations/<token>``: whoever holds the secret may see that org's
   name) belongs here, with the reason naming the test that covers it.
   ``CONTROL_EXEMPT`` likewise lists GET routes that may refuse org A's own values.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import text

from tests import factories


@dataclass
class ProbeOrg:
    """One side of the probe: an org, its owner and the objects providers made in it."""

    label: str  # "A" (the prober's own org) or "B" (the victim)
    marker: str  # unique text in every name/email of this org: its presence = a leak
    org: object
    owner: object
    app: object  # the app under test (its config, e.g. SECRET_KEY for keyed hashes)
    values: dict[str, str] = field(default_factory=dict)  # provider results, by name
    extras: dict = field(default_factory=dict)  # providers' other state (credentials, ...)

    @property
    def id(self):
        return self.org.id

    @property
    def slug(self) -> str:
        return self.org.slug

    def email(self, local: str) -> str:
        return f"{local}.{self.marker}@probe-{self.label.lower()}.example"

    def label_for(self, what: str) -> str:
        return f"{what} {self.marker}"

    def member(self, role: str = "member", local: str = "member"):
        """A new user in this org (marker in name and email)."""
        user = factories.UserFactory(name=self.label_for(local.title()), email=self.email(
            f"{local}-{secrets.token_hex(3)}"))
        factories.MembershipFactory(org_id=self.id, user_id=user.id, role=role)
        return user


def make_probe_org(label: str, app) -> ProbeOrg:
    marker = f"zq{secrets.token_hex(5)}"
    slug = f"probe-{label.lower()}-{secrets.token_hex(4)}"  # no marker: URLs may be echoed
    org = factories.OrgFactory(name=f"Org {label} {marker}", slug=slug)
    owner = factories.UserFactory(
        name=f"Owner {marker}", email=f"owner.{marker}@probe-{label.lower()}.example"
    )
    factories.MembershipFactory(org_id=org.id, user_id=owner.id, role="owner")
    # Every feature on, so routes behind requires_feature are probed past their gate.
    factories.put_on_plan(org, "enterprise")
    return ProbeOrg(label=label, marker=marker, org=org, owner=owner, app=app)


# ------------------------------------------------------------------------------- providers
Provider = Callable[[ProbeOrg], str]
PROVIDERS: dict[str, Provider] = {}


def provides(*names: str) -> Callable[[Provider], Provider]:
    def register(fn: Provider) -> Provider:
        for name in names:
            assert name not in PROVIDERS, f"two providers for URL parameter {name!r}"
            PROVIDERS[name] = fn
        return fn

    return register


def value_for(name: str, org: ProbeOrg) -> str:
    """The value of URL parameter ``name`` for ``org`` (made once, then cached)."""
    if name not in org.values:
        org.values[name] = PROVIDERS[name](org)
    return org.values[name]


@provides("slug")
def _slug(org: ProbeOrg) -> str:
    return org.slug


@provides("org_id")
def _org_id(org: ProbeOrg) -> str:
    return str(org.id)


@provides("member_id", "user_id")
def _member(org: ProbeOrg) -> str:
    # Not the owner: a route acting on it must never be able to lock the prober out.
    return str(org.member(role="member").id)


@provides("role_key")
def _custom_role(org: ProbeOrg) -> str:
    key = f"probe-role-{secrets.token_hex(3)}"
    factories.execute(
        "INSERT INTO roles (org_id, key, name, permissions) VALUES (:o, :k, :n, :p)",
        o=org.id, k=key, n=org.label_for("Role"), p=["org.view", "members.view"],
    )
    return key


@provides("invitation_id")
def _invitation(org: ProbeOrg) -> str:
    invitation = factories.InvitationFactory(
        org_id=org.id, email=org.email("invitee"), invited_by=org.owner.id
    )
    return str(invitation.id)


def _credential(org: ProbeOrg, kind: str) -> str:
    return str(
        factories.execute(
            "INSERT INTO org_credentials (org_id, kind, name, prefix, secret_hash, scopes)"
            " VALUES (:o, :kind, :n, :p, :h, '{}') RETURNING id",
            o=org.id, kind=kind, n=org.label_for(kind), p=secrets.token_hex(6),
            h=secrets.token_bytes(32),
        ).scalar_one()
    )


@provides("key_id", "api_key_id", "credential_id")
def _api_key(org: ProbeOrg) -> str:
    return _credential(org, "api_key")


@provides("scim_token_id", "token_id")
def _scim_token(org: ProbeOrg) -> str:
    return _credential(org, "scim")


@provides("scim_user_id")
def _scim_user(org: ProbeOrg) -> str:
    """A provisioned SCIM user of the org (the org's view of one of its members)."""
    member = org.member(role="member", local="scim")
    return str(factories.execute(
        "INSERT INTO scim_users (org_id, user_id, user_name, email, role)"
        " VALUES (:o, :u, :n, :e, 'member') RETURNING id",
        o=org.id, u=member.id, n=member.email, e=member.email,
    ).scalar_one())


@provides("scim_group_id")
def _scim_group(org: ProbeOrg) -> str:
    group = factories.execute(
        "INSERT INTO scim_groups (org_id, display_name) VALUES (:o, :n) RETURNING id",
        o=org.id, n=org.label_for("SCIM group"),
    ).scalar_one()
    factories.execute(
        "INSERT INTO scim_group_members (org_id, group_id, scim_user_id) VALUES (:o, :g, :u)",
        o=org.id, g=group, u=value_for("scim_user_id", org),
    )
    return str(group)


@provides("resource_type")
def _scim_resource_type(org: ProbeOrg) -> str:
    return "User"


@provides("schema_urn")
def _scim_schema(org: ProbeOrg) -> str:
    return "urn:ietf:params:scim:schemas:core:2.0:User"


def _scim_token_headers(org: ProbeOrg) -> dict[str, str]:
    """A SCIM token of org A (it, not the cookie, authenticates /scim/v2/)."""
    from dashboard.apikeys import tokens

    key = tokens.server_key(org.app.config.get("API_KEY_HMAC_KEY"), org.app.config["SECRET_KEY"])
    plaintext, _ = factories.scim_token(org.org, name=org.label_for("SCIM token"), hmac_key=key)
    return {"Authorization": f"Bearer {plaintext}"}


def _partner(org: ProbeOrg) -> dict:
    """A partner provider that provisioned ``org``, with its bearer credential."""
    if "partner" not in org.extras:
        from dashboard.partner.credentials import create_provider

        session = factories.session()
        provider, secret = create_provider(
            session, org.app.config["SECRET_KEY"], org.label_for("Provider")
        )
        external_id = f"probe-ext-{secrets.token_hex(4)}"
        session.execute(
            text("INSERT INTO provider_orgs (provider_id, external_id, org_id, request_hash)"
                 " VALUES (:p, :e, :o, 'probe')"),
            {"p": provider.id, "e": external_id, "o": org.id},
        )
        session.commit()
        org.extras["partner"] = {
            "external_id": external_id, "headers": {"Authorization": f"Bearer {secret}"}
        }
    return org.extras["partner"]


@provides("external_id")
def _external_id(org: ProbeOrg) -> str:
    return _partner(org)["external_id"]


@provides("feature_key")
def _feature_key(org: ProbeOrg) -> str:
    return "sso"


@provides("event_id", "audit_id")
def _audit_event(org: ProbeOrg) -> str:
    return str(
        factories.execute(
            "INSERT INTO audit_events (org_id, actor, action, target)"
            " VALUES (:o, :a, 'probe.seed', :t) RETURNING id",
            o=org.id, a=org.owner.email, t=org.label_for("target"),
        ).scalar_one()
    )


@provides("session_id")
def _browser_session(org: ProbeOrg) -> str:
    """A live browser session of the org's owner (what /account/sessions/<id>/revoke ends)."""
    return str(
        factories.execute(
            "INSERT INTO user_sessions (user_id, org_id, ip, user_agent)"
            " VALUES (:u, :o, '192.0.2.1', :ua) RETURNING id",
            u=org.owner.id, o=org.id, ua=org.label_for("Probe browser"),
        ).scalar_one()
    )


def _access_token(org: ProbeOrg) -> dict[str, str]:
    """A JWT access token for the org's owner, from a session of its own (a probe that
    revokes the prober's sessions may end it: the probe is then refused, which is fine)."""
    from dashboard.auth import access_tokens

    config = org.app.config
    session_id = _browser_session(org)
    issued = access_tokens.issue(
        access_tokens.keyring_for(org.app), issuer=config["BASE_URL"],
        audience=config["ACCESS_TOKEN_AUDIENCE"], ttl=config["ACCESS_TOKEN_TTL_SECONDS"],
        user_id=org.owner.id, org_id=org.id, org_slug=org.slug, role="owner",
        session_id=session_id,
    )
    return {"Authorization": f"Bearer {issued.token}"}


def _sso_connection(org: ProbeOrg):
    """The org's SAML connection (one per org), made once."""
    if "sso_connection" not in org.extras:
        from tests.support.saml_idp import make_keypair

        _key, cert = make_keypair(f"probe-{org.label}")
        body = "".join(cert.decode().strip().splitlines()[1:-1])
        org.extras["sso_connection"] = factories.SsoConnectionFactory(
            org_id=org.id, kind="saml", config={
                "idp_entity_id": f"https://idp.probe-{org.label.lower()}.example/",
                "sso_url": f"https://idp.probe-{org.label.lower()}.example/sso",
                "certs": [body]})
    return org.extras["sso_connection"]


@provides("connection_id")
def _sso_connection_id(org: ProbeOrg) -> str:
    return str(_sso_connection(org).id)


@provides("passkey_id")
def _passkey(org: ProbeOrg) -> str:
    """A passkey of a member of the org (person-scoped: only its owner may touch it; not the
    prober's own, which would add a second step to its sign-in)."""
    passkey_id = factories.execute(
        "INSERT INTO passkeys (user_id, credential_id, public_key, name)"
        " VALUES (:u, :c, :k, :n) RETURNING id",
        u=org.member(local="keyholder").id, c=secrets.token_bytes(32), k=secrets.token_bytes(77),
        n=org.label_for("Key")[:60]).scalar_one()
    return str(passkey_id)


@provides("step")
def _passkey_step(org: ProbeOrg) -> str:
    return "login"


@provides("domain_id")
def _sso_domain(org: ProbeOrg) -> str:
    domain = f"{org.marker}.probe-{org.label.lower()}.example"
    return str(factories.SsoDomainFactory(org_id=org.id, domain=domain, verified_at=None).id)


@provides("custom_domain_id")
def _custom_domain(org: ProbeOrg) -> str:
    domain = f"login.{org.marker}.probe-{org.label.lower()}.example"
    return str(factories.CustomDomainFactory(org_id=org.id, domain=domain).id)


@provides("sha")
def _logo(org: ProbeOrg) -> str:
    color = tuple(int(org.marker[i:i + 2], 16) for i in (2, 4, 6))  # each org its own logo
    return factories.branding(org.org, display_name=org.label_for("Brand"),
                              logo_color=color).logo_sha256


@provides("color")
def _brand_color(org: ProbeOrg) -> str:
    return "1f4e9c"


@provides("request_id")
def _sso_login_request(org: ProbeOrg) -> str:
    request_id = f"probe_{secrets.token_hex(12)}"
    factories.execute(
        "INSERT INTO sso_login_requests (id, org_id, connection_id, purpose, expires_at)"
        " VALUES (:i, :o, :c, 'login', now() + interval '1 hour')",
        i=request_id, o=org.id, c=_sso_connection(org).id)
    return request_id


@provides("upgrade_request_id")
def _upgrade_request(org: ProbeOrg) -> str:
    """An open "request upgrade" of the org (the staff console closes them)."""
    return str(factories.execute(
        "INSERT INTO upgrade_requests (org_id, feature, requested_by, note)"
        " VALUES (:o, 'scim', :u, :n) RETURNING id",
        o=org.id, u=org.owner.id, n=org.label_for("upgrade note"),
    ).scalar_one())


# ----------------------------------------------------------------------------- events


def _destination(org: ProbeOrg, kind: str) -> str:
    key = f"destination:{kind}"
    if key not in org.extras:
        org.extras[key] = str(factories.execute(
            "INSERT INTO event_destinations (org_id, kind, url, description)"
            " VALUES (:o, :k, 'https://hooks.probe.example/in', :d) RETURNING id",
            o=org.id, k=kind, d=org.label_for("Probe endpoint"),
        ).scalar_one())
    return org.extras[key]


@provides("endpoint_id")
def _webhook_endpoint(org: ProbeOrg) -> str:
    return _destination(org, "webhook")


@provides("stream_id")
def _audit_stream(org: ProbeOrg) -> str:
    return _destination(org, "stream_https")


@provides("delivery_id")
def _event_delivery(org: ProbeOrg) -> str:
    """A finished delivery to the org's webhook endpoint (what redelivery acts on)."""
    destination = _webhook_endpoint(org)
    seq = factories.execute(
        "INSERT INTO event_outbox (org_id, audit_event_id, dispatched_at)"
        " VALUES (:o, :a, now()) RETURNING seq", o=org.id, a=_audit_event(org),
    ).scalar_one()
    return str(factories.execute(
        "INSERT INTO event_deliveries (org_id, destination_id, outbox_seq, event_type,"
        " message_id, status, attempts, finished_at)"
        " VALUES (:o, :d, :s, 'role.updated', :m, 'failed', 1, now()) RETURNING id",
        o=org.id, d=destination, s=seq, m=f"evt_probe_{seq}",
    ).scalar_one())


# ------------------------------------------------------------------------------- form data
# A state-changing probe sends GENERIC_FORM updated with FORM_DATA[endpoint](a, b). The
# body-attack variant then puts every provider's value for org B on top, under the
# provider's name (``member_id=<B's member>``, ``slug=<B's slug>``), as a form and as JSON.
# Values must not contain a marker (pages echo input back).
GENERIC_FORM: dict[str, str] = {
    "name": "Probe Name",
    "email": "probe-someone@probe-neutral.example",
    "password": "probe password 12345",
    "role": "admin",
    "reason": "isolation probe: checking cross-tenant access",
    "q": "probe",
    "next": "/",
}

_SCIM_PATCH = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
               "Operations": [{"op": "replace", "path": "displayName", "value": "Probe"}]}

# Routes under JSON_PREFIXES get JSON bodies and only FORM_DATA (their schemas refuse
# unknown fields), not GENERIC_FORM.
FORM_DATA: dict[str, Callable[[ProbeOrg, ProbeOrg], dict]] = {
    # A valid new org for A's owner would switch the prober's session elsewhere; a taken
    # slug (B's) keeps the probe about B.
    "orgs.create": lambda a, b: {"name": "Probe Org", "slug": b.slug},
    "partner.provision": lambda a, b: {
        "name": "Probe Provisioned", "slug": f"probe-new-{secrets.token_hex(4)}",
        "owner_email": "probe-owner@probe-neutral.example",
    },
    "partner.update_org": lambda a, b: {"name": "Probe Renamed", "plan": "free"},
    "api.change_member_role": lambda a, b: {"role": "member"},
    "api.update_api_key": lambda a, b: {"metadata": {"probe": "a"}},
    # A well-formed SCIM PatchOp, so the probe reaches the resource look-up.
    "scim_api.user": lambda a, b: _SCIM_PATCH,
    "scim_api.group": lambda a, b: _SCIM_PATCH,
    "webhooks.create": lambda a, b: {"url": "https://hooks.probe.example/new"},
    "webhooks.update": lambda a, b: {"url": "https://hooks.probe.example/changed"},
    "audit_streams.create": lambda a, b: {"kind": "stream_https",
                                          "url": "https://siem.probe.example/in"},
}
JSON_PREFIXES = ("/api/", "/partner/", "/scim/")

# ----------------------------------------------------------------------- other credentials
# Path prefix -> headers that authenticate as org A's strongest machine principal for the
# routes under it (the browser session cookie is sent too, and must not matter).
def _api_key_headers(org: ProbeOrg) -> dict[str, str]:
    """An API key of org A holding every scope (it, not the cookie, authenticates /api/)."""
    from dashboard.permissions import GRANTABLE_SCOPES

    plaintext, _ = factories.api_key(
        org.org, [s.value for s in GRANTABLE_SCOPES], name=org.label_for("API key")
    )
    return {"Authorization": f"Bearer {plaintext}"}


AUTH_SCHEMES: dict[str, Callable[[ProbeOrg], dict[str, str]]] = {
    "/partner/": lambda a: _partner(a)["headers"],  # the provider that provisioned org A
    "/api/": _api_key_headers,  # an org API key with every scope
    "/scim/": _scim_token_headers,  # the org's SCIM token
    # Listed after "/api/" so it wins there: /api/v1/me speaks for a user, not a key.
    "/api/v1/me": _access_token,  # JWT access token (dashboard/auth/access_tokens.py)
}

# URL parameters whose value is a name in the CALLER's own namespace, not a pointer to
# another org's object: B's value names nothing of B's for A. Probes still send B's value
# and still demand no trace of B in the answer and B's rows unchanged, but accept any
# status below 500.
NOT_REFERENCES: dict[str, str] = {
    "color": "the brand stylesheet is a function of the colour in the URL alone (no org)",
    "feature_key": "feature keys are one global vocabulary; the answer is about the caller's org",
    "external_id": "a partner's external id is looked up within the calling provider only",
    "connection_id": "the SSO sign-in endpoints (SP metadata, OIDC callback) are public by"
                     " design: an IdP and a signed-out browser must reach them by id",
    "resource_type": "SCIM resource type names (User, Group) are one vocabulary for every org",
    "schema_urn": "SCIM schema URNs are one vocabulary for every org",
    "step": "the passkey sign-in step (login, mfa, reauth): a fixed vocabulary, not an object",
    "request_id": "a sign-in in flight, found by its random id; only the browser that started"
                  " it may finish it (tests/security/test_sso_saml.py)",
}

# ------------------------------------------------------------------------------ exclusions
EXCLUDED: dict[str, str] = {
    "static": "Flask's static files: served from disk, no database, no tenant data",
    "sso_login.start": "public by design: anyone may start a sign-in at any org's IdP; it adds"
                       " a pending request only (tests/security/test_sso_saml.py)",
    "sso_login.acs": "the IdP posts here unauthenticated; a refused response is audited in the"
                     " connection's org by design (tests/security/test_sso_saml.py attacks)",
    "invitations.show": "capability URL: the token holder may see the inviting org's name;"
    " bad/foreign tokens are covered by tests/security/test_invitations.py",
    "invitations.accept": "capability URL (token = the secret); accept refusals and wrong-email"
    " checks are covered by tests/security/test_invitations.py",
    "accounts.reset_password": "capability URL (reset token = the secret), no org in it; used,"
    " expired, tampered, other-person links: tests/security/test_password_reset.py",
    "accounts.signup_verify": "capability URL (sign-up token), no org in it; bad links:"
    " tests/security/test_signup.py",
    "accounts.confirm_email": "capability URL (email-change token) usable only by the person who"
    " asked; other-person, tampered, used, expired: tests/security/test_account_profile.py",
}

# GET routes allowed to refuse org A's own values in the control pass (e.g. a page that only
# exists in a state the seed does not create).
CONTROL_EXEMPT: dict[str, str] = {
    "admin.org_plan": "staff only: org A's owner is not staff, so a 404 is right; staff use is"
    " covered by tests/security/test_admin_plan.py",
    "console.org": "staff only: org A's owner is not staff; staff use is covered by"
    " tests/security/test_staff_console.py",
    "console.index": "staff only, as above (tests/security/test_staff_console.py)",
    "tiers.org_tier": "staff only: org A's owner is not staff; staff use is covered by"
    " tests/security/test_tiers_staff.py",
    "sso_login.complete": "answers only after the ACS accepted a response for this browser"
                          " (tests/security/test_sso_saml.py)",
    "sso_login.oidc_callback": "needs an OIDC connection and a login in flight"
                               " (tests/security/test_sso_oidc.py)",
    "sso_logout.single_logout": "answers only a logout message signed by the IdP (or one this"
                                " browser asked for): tests/security/test_sso_saml_keys.py",
}
