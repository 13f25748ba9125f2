"""SSO rules: connection settings, verified domains, login requests, JIT provisioning.
No Flask here; every function takes its SQLAlchemy session.

Settings functions run in the org's RLS context (``tenancy.request_session()``). Login
functions run before anyone is known and reach tenant data only through the narrow SECURITY
DEFINER functions of migration 0006_sso.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dashboard import people, tenancy
from dashboard.audit.service import Actor, record_audit
from dashboard.auth import service as auth_service
from dashboard.licenses import enforcement
from dashboard.licenses.features import Feature
from dashboard.models import (
    CustomRole,
    Membership,
    SsoConnection,
    SsoDomain,
    SsoLoginRequest,
    SsoSeenAssertion,
    User,
    UserSession,
)
from dashboard.permissions import BUILTIN_ROLES
from dashboard.sso import crypto, domains, oidc, saml

REQUEST_TTL = timedelta(minutes=10)
PICKUP_TTL = timedelta(minutes=2)  # between the SAML ACS POST and the browser's GET
LINK_TTL = timedelta(minutes=10)
DEFAULT_ATTRIBUTES = {
    "email": ["email", "mail", "emailaddress",
              "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
              "urn:oid:0.9.2342.19200300.100.1.3"],
    "name": ["name", "displayName", "cn",
             "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
             "urn:oid:2.16.840.1.113730.3.1.241"],
    "groups": ["groups", "memberOf",
               "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"],
}
_ATTRIBUTE_NAME = re.compile(r"^[\w:/.#-]{1,200}$")
_SCOPE = re.compile(r"^[\w:./-]{1,100}$")


class SsoConfigError(ValueError):
    """Bad settings input; ``field`` names the form field the message belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class LoginRefused(Exception):
    """An SSO login that must not sign anyone in. ``reason`` is shown and audited."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class LinkRequired(Exception):
    """The IdP names an email that already has an account: its owner must prove it (password)
    before this identity is bound to it. Never linked by email alone."""

    def __init__(self, login: ExternalLogin) -> None:
        super().__init__(login.email)
        self.login = login


# =========================================================================== settings


@dataclass(frozen=True)
class RoleOption:
    key: str
    label: str


def assignable_roles(db: Session, actor_role: str) -> list[RoleOption]:
    """Roles a connection may hand out: never owner, never above the configuring admin."""
    rank = BUILTIN_ROLES.get(actor_role, {}).get("rank", 0)
    options = [
        RoleOption(key, spec["name"])
        for key, spec in sorted(BUILTIN_ROLES.items(), key=lambda kv: -kv[1]["rank"])
        if key != "owner" and spec["rank"] <= rank
    ]
    options += [RoleOption(r.key, r.name) for r in db.scalars(select(CustomRole)
                                                                .order_by(CustomRole.name))]
    return options


def current_connection(db: Session) -> SsoConnection | None:
    """The org's connection (RLS decides which org)."""
    return db.scalar(select(SsoConnection))


def public_view(conn: SsoConnection | None) -> dict | None:
    """What audit before/after and pages may show: never the client secret."""
    if conn is None:
        return None
    return {
        "kind": conn.kind, "enabled": conn.enabled, "config": dict(conn.config),
        "has_client_secret": conn.client_secret is not None,
        "default_role": conn.default_role, "attribute_map": dict(conn.attribute_map),
        "allow_idp_initiated": conn.allow_idp_initiated, "require_sso": conn.require_sso,
        "owner_break_glass": conn.owner_break_glass,
    }


def _touch(db: Session, conn: SsoConnection) -> None:
    conn.updated_at = datetime.now(UTC)
    db.flush()


_PLANNED_IDS = uuid.UUID("8f6f3c2e-5b0a-4d7e-9a51-2f0c8e7d6b41")


def planned_connection_id(org_id: uuid.UUID) -> uuid.UUID:
    """The id the org's connection gets when it is saved, known before: the SSO page shows
    the SP values (entity ID, ACS URL, redirect URI) first, so each IdP is set up once."""
    return uuid.uuid5(_PLANNED_IDS, f"sso-connection:{org_id}")


def _new_or_same_kind(db: Session, org_id: uuid.UUID, kind: str) -> tuple[SsoConnection, bool]:
    conn = current_connection(db)
    if conn is None:
        conn = SsoConnection(id=planned_connection_id(org_id), org_id=org_id, kind=kind,
                             config={}, attribute_map={})
        return conn, True
    if conn.kind != kind:
        other = "SAML" if conn.kind == "saml" else "OIDC"
        raise SsoConfigError("kind", f"This organization already has an {other} connection. "
                                     "Remove it first to set up another kind.")
    return conn, False


def save_saml(db: Session, org_id: uuid.UUID, actor: Actor, idp: saml.IdpConfig) -> SsoConnection:
    conn, created = _new_or_same_kind(db, org_id, "saml")
    before = public_view(None if created else conn)
    conn.config = {**_kept_options(conn), **idp.as_config()}
    if created:
        db.add(conn)
    _touch(db, conn)
    record_audit(db, org_id=org_id, actor=actor,
                 action="sso.connection_created" if created else "sso.connection_updated",
                 target=f"sso:{conn.id}", before=before, after=public_view(conn))
    return conn


def clean_scopes(value: str) -> str:
    scopes = (value or "").split() or oidc.DEFAULT_SCOPES.split()
    if len(scopes) > 20 or not all(_SCOPE.match(s) for s in scopes):
        raise SsoConfigError("scopes", "List scopes separated by spaces, e.g. openid email.")
    if "openid" not in scopes:
        scopes.insert(0, "openid")
    return " ".join(dict.fromkeys(scopes))


def save_oidc(
    db: Session, org_id: uuid.UUID, actor: Actor, *, issuer: str, client_id: str,
    client_secret: str, scopes: str, net: oidc.Net, key: bytes,
) -> SsoConnection:
    """Check the issuer by discovery (it must name itself), then store; the secret is sealed.
    An empty secret keeps the stored one."""
    conn, created = _new_or_same_kind(db, org_id, "oidc")
    client_id = (client_id or "").strip()
    if not 1 <= len(client_id) <= 255:
        raise SsoConfigError("client_id", "Enter the client ID the provider gave you.")
    scopes = clean_scopes(scopes)
    if created and not client_secret:
        raise SsoConfigError("client_secret", "Enter the client secret.")
    if len(client_secret or "") > 1000:
        raise SsoConfigError("client_secret", "That client secret is too long.")
    try:
        provider = oidc.discover(issuer, net)
    except oidc.OidcError as exc:
        raise SsoConfigError("issuer", exc.reason) from exc
    before = public_view(None if created else conn)
    conn.config = {**_kept_options(conn), "issuer": provider.issuer, "client_id": client_id,
                   "scopes": scopes}
    if client_secret:
        conn.client_secret = crypto.seal(key, client_secret, str(conn.id))
    if created:
        db.add(conn)
    _touch(db, conn)
    record_audit(db, org_id=org_id, actor=actor,
                 action="sso.connection_created" if created else "sso.connection_updated",
                 target=f"sso:{conn.id}", before=before, after=public_view(conn))
    return conn


def parse_group_roles(value: str, allowed: set[str]) -> dict[str, str]:
    """'group = role' per line -> {group: role}, every role one the admin may hand out."""
    mapping: dict[str, str] = {}
    for number, line in enumerate((value or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        group, sep, role = line.rpartition("=")
        group, role = group.strip(), role.strip().lower()
        if not sep or not group or len(group) > 200:
            raise SsoConfigError("group_roles", f"Line {number}: write it as: group = role.")
        if role not in allowed:
            raise SsoConfigError("group_roles", f"Line {number}: {role!r} is not a role you "
                                                "can grant.")
        mapping[group] = role
    if len(mapping) > 100:
        raise SsoConfigError("group_roles", "At most 100 group mappings.")
    return mapping


@dataclass(frozen=True)
class Options:
    default_role: str
    email_attribute: str = ""
    name_attribute: str = ""
    groups_attribute: str = ""
    group_roles: str = ""
    allow_idp_initiated: bool = False
    require_sso: bool = False
    owner_break_glass: bool = True
    identify_by: str = "auto"
    want_encrypted_assertions: bool = False


IDENTIFY_BY = ("auto", "name_id")
# Connection options kept in `config` beside the IdP's settings, and kept when those change.
_KEPT_OPTIONS = ("identify_by", "want_encrypted_assertions")


def _kept_options(conn: SsoConnection) -> dict:
    return {k: conn.config[k] for k in _KEPT_OPTIONS if k in (conn.config or {})}


def save_options(
    db: Session, org_id: uuid.UUID, actor: Actor, actor_role: str, options: Options,
    current_session: uuid.UUID,
) -> SsoConnection:
    conn = current_connection(db)
    if conn is None:
        raise SsoConfigError("default_role", "Set up a connection first.")
    allowed = {r.key for r in assignable_roles(db, actor_role)}
    if options.default_role not in allowed:
        raise SsoConfigError("default_role", "Choose a role you can grant.")
    names = {}
    for name in ("email", "name", "groups"):
        value = getattr(options, f"{name}_attribute").strip()
        if value and not _ATTRIBUTE_NAME.match(value):
            raise SsoConfigError(f"{name}_attribute", "Use the attribute or claim name only.")
        if value:
            names[name] = value
    mapping = parse_group_roles(options.group_roles, allowed)
    enforcing_now = options.require_sso and not conn.require_sso
    if enforcing_now and not _may_require_sso(db, conn, org_id, actor_role, options,
                                              current_session):
        raise SsoConfigError(
            "require_sso", "Sign in through this connection first (so you know it works), "
                           "then require it. An owner whose own email is elsewhere can "
                           "require it after a successful \"Test connection\" while keeping "
                           "owner password access (break-glass) on.")
    if options.identify_by not in IDENTIFY_BY:
        raise SsoConfigError("identify_by", "Choose how returning people are identified.")
    before = public_view(conn)
    conn.config = {**conn.config, "identify_by": options.identify_by,
                   "want_encrypted_assertions": bool(options.want_encrypted_assertions)}
    conn.default_role = options.default_role
    conn.attribute_map = {**names, "group_roles": mapping}
    conn.allow_idp_initiated = options.allow_idp_initiated
    conn.require_sso = options.require_sso
    conn.owner_break_glass = options.owner_break_glass
    _touch(db, conn)
    revoked = revoke_password_sessions(db, org_id, conn.owner_break_glass) if enforcing_now else 0
    record_audit(db, org_id=org_id, actor=actor, action="sso.connection_updated",
                 target=f"sso:{conn.id}", before=before, after=public_view(conn),
                 details={"password_sessions_revoked": revoked} if enforcing_now else None)
    return conn


CONNECTION_TEST_VALID = timedelta(days=1)


def _may_require_sso(db: Session, conn: SsoConnection, org_id: uuid.UUID, actor_role: str,
                     options: Options, current_session: uuid.UUID) -> bool:
    """Proof the connection works before it locks people out: the actor signed in through
    it, or (an owner keeping break-glass password access, whose own email may be at another
    domain) it passed "Test connection" recently."""
    session_row = db.get(UserSession, current_session)
    if session_row is not None and session_row.auth_method == "sso" \
            and session_row.sso_org_id == org_id:
        return True
    if actor_role != "owner" or not options.owner_break_glass:
        return False
    return bool(db.scalar(text(
        "SELECT 1 FROM audit_events WHERE action = 'sso.connection_tested' AND target = :t"
        " AND at > now() - :valid LIMIT 1"), {"t": f"sso:{conn.id}",
                                            "valid": CONNECTION_TEST_VALID}))


def revoke_password_sessions(db: Session, org_id: uuid.UUID, keep_owners: bool) -> int:
    """SSO just became required: password sessions active in this org end now (other
    people's sessions: through the definer function, for the context's org only)."""
    return people.revoke_org_password_sessions(db, keep_owners=keep_owners)


def delete_connection(db: Session, org_id: uuid.UUID, actor: Actor) -> bool:
    conn = current_connection(db)
    if conn is None:
        return False
    before = public_view(conn)
    db.delete(conn)
    db.flush()
    record_audit(db, org_id=org_id, actor=actor, action="sso.connection_deleted",
                 target=f"sso:{conn.id}", before=before)
    return True


# =========================================================================== domains


DOMAINS = domains.DomainTable(
    SsoDomain, "SELECT app_sso_domain_taken(:d)", limit=50, target="domain",
    claimed="sso.domain_claimed", verified="sso.domain_verified",
    removed="sso.domain_removed", refused=SsoConfigError)


def listed_domains(db: Session) -> list[tuple]:
    """``(row, TXT record name, TXT record value)`` of the org's SSO domains."""
    return domains.listed(db, DOMAINS)


def claim_domain(db: Session, org_id: uuid.UUID, actor: Actor, value: str) -> SsoDomain:
    return domains.claim(db, DOMAINS, org_id, actor, value)


def verify_domain(db: Session, org_id: uuid.UUID, actor: Actor, domain_id: uuid.UUID,
                  resolver) -> SsoDomain | None:
    """Look for the TXT record; None when the domain is not this org's (404)."""
    return domains.verify(db, DOMAINS, org_id, actor, domain_id, resolver)


def delete_domain(db: Session, org_id: uuid.UUID, actor: Actor, domain_id: uuid.UUID) -> bool:
    return domains.delete(db, DOMAINS, org_id, actor, domain_id)


# =========================================================================== login: connection


@dataclass(frozen=True)
class LoginConnection:
    """A connection as a login sees it (read through app_sso_connection)."""

    id: uuid.UUID
    org_id: uuid.UUID
    kind: str
    config: dict
    client_secret: bytes | None
    default_role: str
    attribute_map: dict
    allow_idp_initiated: bool

    def saml_idp(self) -> saml.IdpConfig:
        return saml.IdpConfig.from_config(self.config)

    def oidc_client(self, key: bytes, redirect_uri: str) -> oidc.ClientConfig:
        try:
            secret = crypto.open_sealed(key, self.client_secret or b"", str(self.id))
        except crypto.SecretUnreadable as exc:
            raise LoginRefused("the connection's client secret cannot be read; an admin "
                               "must enter it again", "client secret unreadable") from exc
        return oidc.ClientConfig(self.config["issuer"], self.config["client_id"], secret,
                                 self.config.get("scopes", oidc.DEFAULT_SCOPES), redirect_uri)


SIGN_IN = enforcement.point(
    Feature.SSO, "sso-sign-in",
    "signing in through an org's SSO connection (login start and finish, email-first routing)"
    " and Require SSO (migration 0032_sso_plan_gate)")
NOT_IN_PLAN = ("single sign-on is not included in this organization's plan any more; sign in "
               "with your email and password")


def sso_included(db: Session, connection_id: uuid.UUID) -> bool | None:
    """Whether the connection's org has the SSO feature now (before any tenant context);
    None for an unknown connection."""
    return db.scalar(text("SELECT app_sso_included(:c)"), {"c": connection_id})


def load_connection(db: Session, connection_id: uuid.UUID) -> LoginConnection | None:
    row = db.execute(text("SELECT * FROM app_sso_connection(:c)"),
                     {"c": connection_id}).one_or_none()
    if row is None:
        return None
    return LoginConnection(connection_id, row.org_id, row.kind, row.config, row.client_secret,
                           row.default_role, row.attribute_map, row.allow_idp_initiated)


def connection_for_email(db: Session, email: str) -> uuid.UUID | None:
    """Email-first login: the connection of the org that verified the email's domain."""
    domain = email.rsplit("@", 1)[-1].strip().lower()
    return db.scalar(text("SELECT connection_id FROM app_sso_domain_connection(:d)"),
                     {"d": domain})


def refused_last_day(db: Session) -> int:
    """Refused sign-ins of the org's connection over the last 24 hours (RLS picks the org)."""
    return db.scalar(text("SELECT coalesce(sum(refused), 0) FROM sso_refusals"
                          " WHERE minute > now() - interval '1 day'")) or 0


def record_failure(db: Session, connection_id: uuid.UUID, reason: str, detail: str,
                   ip: str, user_agent: str) -> None:
    """Count a refused login in the connection's org (the first of each minute, and a summary
    of each busy minute, reach the audit log: migration 0011_sso_refusals), and keep it
    even though the request that carried it fails (its transaction is rolled back)."""
    message = reason if not detail or detail == reason else f"{reason} ({detail})"
    db.execute(text("SELECT app_sso_record_failure(:c, :r, :ip, :ua)"),
               {"c": connection_id, "r": message, "ip": ip, "ua": user_agent})
    db.commit()


# =========================================================================== login: requests


def start_request(
    db: Session, conn: LoginConnection, request_id: str, *, purpose: str,
    user_id: uuid.UUID | None = None, next_path: str | None = None,
    pending: oidc.Pending | None = None, return_url: str | None = None,
) -> None:
    db.execute(delete(SsoLoginRequest).where(SsoLoginRequest.expires_at < func.now()))
    db.add(SsoLoginRequest(
        id=request_id, org_id=conn.org_id, connection_id=conn.id, purpose=purpose,
        user_id=user_id, next_path=next_path, return_url=return_url,
        nonce=pending.nonce if pending else None,
        code_verifier=pending.code_verifier if pending else None,
        expires_at=datetime.now(UTC) + REQUEST_TTL,
    ))
    db.flush()


def take_oidc_request(db: Session, conn: LoginConnection, state: str) -> SsoLoginRequest | None:
    """The pending OIDC login for this state and connection, removed (single use)."""
    return db.scalar(
        delete(SsoLoginRequest)
        .where(SsoLoginRequest.id == state, SsoLoginRequest.connection_id == conn.id,
               SsoLoginRequest.expires_at > func.now(), SsoLoginRequest.consumed_at.is_(None))
        .returning(SsoLoginRequest)
    )


def accept_saml_response(
    db: Session, conn: LoginConnection, sp: saml.SpConfig, saml_response: str,
) -> str:
    """The ACS step: validate, check replay and our request, park the result for the
    browser. Returns the request id the browser picks the result up with."""
    in_response_to = saml.peek_in_response_to(saml_response)
    if in_response_to is None and not conn.allow_idp_initiated:
        raise LoginRefused("IdP-initiated sign-in is off for this organization; start "
                           "from the Tenantdesk sign-in page", "unsolicited response")
    try:
        assertion = saml.validate(conn.saml_idp(), sp, saml_response, in_response_to)
    except saml.SamlRefused as exc:
        raise LoginRefused(exc.reason, exc.detail) from exc
    remember_assertion(db, conn, assertion.assertion_id, assertion.not_on_or_after)
    result = saml_login(conn, assertion).as_result()
    if in_response_to is None:
        request_id = "idp_" + secrets.token_urlsafe(32)
        start_request(db, conn, request_id, purpose="idp_initiated")
    else:
        request_id = in_response_to
    parked = db.execute(
        update(SsoLoginRequest)
        .where(SsoLoginRequest.id == request_id, SsoLoginRequest.connection_id == conn.id,
               SsoLoginRequest.expires_at > func.now(), SsoLoginRequest.consumed_at.is_(None))
        .values(consumed_at=func.now(), result=result)
    ).rowcount
    if not parked:  # unknown, expired, for another connection, or answered already
        raise LoginRefused("the response answers a request this service did not make "
                           "(or one already answered)", f"InResponseTo {in_response_to!r}")
    return request_id


def remember_assertion(db: Session, conn: LoginConnection, assertion_id: str,
                       not_on_or_after: float) -> None:
    """Replay cache: an assertion ID is accepted once, and remembered until it expires."""
    db.execute(delete(SsoSeenAssertion).where(SsoSeenAssertion.expires_at < func.now()))
    expires = datetime.fromtimestamp(not_on_or_after, UTC) + timedelta(
        seconds=saml.CLOCK_SKEW_SECONDS)
    inserted = db.execute(
        text("INSERT INTO sso_seen_assertions (org_id, connection_id, assertion_id, expires_at)"
             " VALUES (:o, :c, :a, :e) ON CONFLICT DO NOTHING RETURNING 1"),
        {"o": conn.org_id, "c": conn.id, "a": assertion_id[:256], "e": expires},
    ).scalar()
    if not inserted:
        raise LoginRefused("this sign-in response was already used (replay)",
                           f"assertion {assertion_id[:100]}")


def return_url_of(db: Session, conn: LoginConnection, request_id: str) -> str | None:
    """The org host a login of this connection started on (None: the installation's)."""
    return db.scalar(select(SsoLoginRequest.return_url).where(
        SsoLoginRequest.id == request_id, SsoLoginRequest.connection_id == conn.id))


def pick_up_saml_result(db: Session, request_id: str) -> SsoLoginRequest | None:
    """The browser's GET after the ACS: the parked result, once, shortly after."""
    return db.scalar(
        delete(SsoLoginRequest)
        .where(SsoLoginRequest.id == request_id, SsoLoginRequest.result.is_not(None),
               SsoLoginRequest.consumed_at > func.now() - PICKUP_TTL)
        .returning(SsoLoginRequest)
    )


# =========================================================================== login: identity


@dataclass
class ExternalLogin:
    """Who the IdP says signed in, read only from a validated response or ID token."""

    connection_id: uuid.UUID
    issuer: str
    subject: str
    email: str | None  # None unless the IdP vouches for it
    name: str | None
    groups: list[str] = field(default_factory=list)
    claims: dict = field(default_factory=dict)  # shown by "test connection"

    def as_result(self) -> dict:
        return {"connection_id": str(self.connection_id), "issuer": self.issuer,
                "subject": self.subject, "email": self.email, "name": self.name,
                "groups": self.groups, "claims": self.claims}

    @classmethod
    def from_result(cls, data: dict) -> ExternalLogin:
        return cls(uuid.UUID(data["connection_id"]), data["issuer"], data["subject"],
                   data.get("email"), data.get("name"), list(data.get("groups") or []),
                   dict(data.get("claims") or {}))


def _attribute(values: dict, configured: str | None, defaults: list[str]) -> list[str]:
    lowered = {k.lower(): v for k, v in values.items()}
    for name in [configured] if configured else defaults:
        found = values.get(name, lowered.get(name.lower()))
        if found:
            return [str(v) for v in (found if isinstance(found, list) else [found])]
    return []


def saml_login(conn: LoginConnection, assertion: saml.Assertion) -> ExternalLogin:
    mapping = conn.attribute_map
    attributes = assertion.attributes
    emails = _attribute(attributes, mapping.get("email"), DEFAULT_ATTRIBUTES["email"])
    if not emails and assertion.name_id_format and "emailAddress" in assertion.name_id_format:
        emails = [assertion.name_id]
    names = _attribute(attributes, mapping.get("name"), DEFAULT_ATTRIBUTES["name"])
    groups = _attribute(attributes, mapping.get("groups"), DEFAULT_ATTRIBUTES["groups"])
    return ExternalLogin(
        conn.id, assertion.issuer, assertion.name_id, emails[0] if emails else None,
        names[0] if names else None, groups[:200],
        claims={"NameID": assertion.name_id, "NameID format": assertion.name_id_format or "",
                "SessionIndex": assertion.session_index or "",
                **{k: v for k, v in list(attributes.items())[:50]}},
    )


def oidc_login(conn: LoginConnection, issuer: str, claims: dict) -> ExternalLogin:
    mapping = conn.attribute_map
    email = oidc.verified_email(claims) if not mapping.get("email") else (
        claims.get(mapping["email"]) if claims.get("email_verified") is True else None)
    names = _attribute(claims, mapping.get("name"), ["name", "preferred_username"])
    groups = _attribute(claims, mapping.get("groups"), ["groups", "roles"])
    shown = {k: v for k, v in claims.items() if k not in {"nonce", "at_hash", "c_hash"}}
    return ExternalLogin(conn.id, issuer, str(claims["sub"]),
                         email if isinstance(email, str) else None,
                         names[0] if names else None, groups[:200], claims=shown)


def mapped_role(conn: LoginConnection, groups: list[str]) -> str | None:
    """The highest built-in role (or first custom role) the groups map to; None if none."""
    table = conn.attribute_map.get("group_roles") or {}
    roles = {table[g] for g in groups if g in table}
    if not roles:
        return None
    return max(roles, key=lambda r: BUILTIN_ROLES.get(r, {}).get("rank", 0))


@dataclass(frozen=True)
class SignedIn:
    user: User
    org: auth_service.OrgChoice
    created_user: bool
    created_membership: bool
    role_change: tuple[str, str] | None


def _email_domain_verified_here(db: Session, conn: LoginConnection, email: str) -> bool:
    return connection_for_email(db, email) == conn.id


UNMATCHED_RETURNING_PERSON = (
    "your identity provider identified you differently than before, and this account has no "
    "password to confirm it with. Ask your organization's admin to set \"Identify returning "
    "people by\" to the email option on the SSO page, or to send a persistent NameID")


def sign_in(db: Session, conn: LoginConnection, login: ExternalLogin) -> SignedIn:
    """Find or provision the user behind ``login`` and make them a member of the
    connection's org. Leaves ``db`` bound to (user, org).

    The identity is (connection, issuer, subject). An email only ever creates a new user
    when nobody has it yet and the org verified its domain; an existing account with that
    email is never taken over (LinkRequired: its owner must prove it with the password).
    """
    if login.connection_id != conn.id:
        raise LoginRefused("the sign-in was started for another organization")
    tenancy.bind(db, tenancy.NOBODY)
    user_id = db.scalar(text("SELECT app_sso_identity_user(:c, :i, :s)"),
                        {"c": conn.id, "i": login.issuer, "s": login.subject})
    match = None
    if user_id is None and login.email:
        # A new NameID for someone we know (transient or rotating NameIDs): the email at a
        # verified domain names them, for accounts without a password (JIT-made) only.
        match = db.execute(text("SELECT * FROM app_sso_match_email(:c, :i, :e, :s, :r)"),
                           {"c": conn.id, "i": login.issuer, "e": login.email,
                            "s": login.subject,
                            "r": conn.config.get("identify_by", "auto") == "auto"}
                           ).one_or_none()
        if match is not None and match.rebound:
            user_id = match.user_id
    if user_id is not None:
        tenancy.bind(db, tenancy.TenantContext(user_id=user_id))  # one's own row is readable
        user = db.get(User, user_id)
        if user is None or not user.is_active:
            raise LoginRefused("this account is disabled")
        return _join(db, conn, login, user, created_user=False)
    if not login.email:
        raise LoginRefused("the identity provider sent no verified email address")
    if not _email_domain_verified_here(db, conn, login.email):
        raise LoginRefused("the email's domain is not verified by this organization",
                           f"domain of {login.email}")
    if people.email_taken(db, login.email):
        if match is not None and not match.has_password:
            raise LoginRefused(UNMATCHED_RETURNING_PERSON,
                               f"new subject for an existing account ({login.email})")
        raise LinkRequired(login)
    # JIT: the new user, their identity and membership commit together (one transaction,
    # already acting as the new user's id), so a failure leaves no half-made account.
    user = User(id=uuid.uuid4(), email=login.email.strip()[:254],
                name=(login.name or login.email.split("@")[0]).strip()[:100] or "User",
                password_hash=None)
    try:
        return _join(db, conn, login, user, created_user=True)
    except IntegrityError as exc:  # the same email signed up a moment ago
        raise LoginRefused("this account was just created elsewhere; try again") from exc


def link_and_sign_in(db: Session, conn: LoginConnection, login: ExternalLogin,
                     user: User) -> SignedIn:
    """After the account's owner proved it (password): bind the identity, then sign in."""
    return _join(db, conn, login, user, created_user=False)


def _join(db: Session, conn: LoginConnection, login: ExternalLogin, user: User,
          created_user: bool) -> SignedIn:
    # With a group mapping configured, the IdP's groups decide the role at every sign-in
    # (a mapped role, else the default); without one, roles are managed in Tenantdesk.
    wanted = mapped_role(conn, login.groups)
    if wanted is None and conn.attribute_map.get("group_roles"):
        wanted = conn.default_role
    tenancy.bind(db, tenancy.TenantContext(user_id=user.id))
    if created_user:
        people.create_user(db, email=user.email, name=user.name, password_hash=None)
        user = db.get(User, user.id)
    created_membership = bool(db.scalar(
        text("SELECT app_sso_join(:c, :i, :s, :e, :r)"),
        {"c": conn.id, "i": login.issuer, "s": login.subject, "e": login.email,
         "r": wanted or conn.default_role},
    ))
    tenancy.bind(db, tenancy.TenantContext(user_id=user.id, org_id=conn.org_id))
    membership = db.get(Membership, (conn.org_id, user.id))
    role_change = None
    if membership and not created_membership and wanted and membership.role not in (
            wanted, "owner"):  # owners are never changed from outside
        role_change = (membership.role, wanted)
        membership.role = wanted
        db.flush()
    org = next(o for o in auth_service.user_orgs(db) if o.org_id == conn.org_id)
    return SignedIn(user, org, created_user, created_membership, role_change)
