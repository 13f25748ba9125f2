"""Sign-in rules, browser session records and the org switch. No Flask here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from dashboard import first_statement, people, tenancy
from dashboard.audit.service import audit_params
from dashboard.auth.passwords import Passwords
from dashboard.models import CustomRole, Membership, User, UserSession


class LoginRefused(Exception):
    """Wrong email or password: one message for both, so accounts cannot be enumerated."""

    message = "Incorrect email or password."


class LoginThrottled(LoginRefused):
    def __init__(self, minutes: int) -> None:
        super().__init__()
        self.message = (
            f"Too many failed sign-in attempts. Try again in {minutes} minute"
            f"{'s' if minutes != 1 else ''}."
        )


@dataclass(frozen=True)
class OrgChoice:
    org_id: uuid.UUID
    slug: str
    name: str
    status: str
    role: str


@dataclass(frozen=True)
class Client:
    ip: str
    user_agent: str


def authenticate(
    session: Session,
    passwords: Passwords,
    email: str,
    password: str,
    client: Client,
    *,
    max_failures: int,
    window_seconds: int,
    max_failures_per_ip: int | None = None,
) -> User:
    """Return the user, or raise LoginRefused / LoginThrottled. Failures are committed.

    ``people.login_begin`` serialises attempts per email in the database and records this one
    before the password is checked, so concurrent guesses cannot all slip under the limit.
    The database compares the typed password's hash with the stored one (the hash never
    leaves it). On success ``session`` acts as the user from its next transaction on.
    """
    check = people.login_begin(
        session, email, client.ip, window_seconds=window_seconds, max_per_email=max_failures,
        max_per_ip=max_failures_per_ip or max_failures * 6,
    )
    if check.throttled:
        raise LoginThrottled(max(1, window_seconds // 60))
    candidate = passwords.candidate(check.hash_template, password)
    user_id = people.login_finish(session, check, email, candidate)
    if user_id is None:
        session.commit()  # a failed attempt must count even though the request "fails"
        raise LoginRefused()
    tenancy.bind(session, tenancy.TenantContext(user_id=user_id))
    return session.get(User, user_id)


def user_orgs(session: Session) -> list[OrgChoice]:
    """The signed-in user's orgs, through the narrow SECURITY DEFINER function."""
    rows = session.execute(text("SELECT org_id, slug, name, status, role FROM app_user_orgs()"))
    return [OrgChoice(*row) for row in rows]


def split_recent(orgs: list[OrgChoice], recent_ids: list[uuid.UUID], count: int
                 ) -> tuple[list[OrgChoice], list[OrgChoice]]:
    """(the recently opened orgs, most recent first; every other org in its usual order)."""
    by_id = {o.org_id: o for o in orgs}
    recent = [by_id[i] for i in recent_ids if i in by_id][:count]
    taken = {o.org_id for o in recent}
    return recent, [o for o in orgs if o.org_id not in taken]


@dataclass(frozen=True)
class SessionAuth:
    """How a browser session was authenticated. An SSO session opens only the org whose
    connection signed it in; a password session opens no org that requires SSO (except an
    owner's break-glass login where the org allows it)."""

    method: str = "password"  # 'password' | 'sso'
    sso_org_id: uuid.UUID | None = None
    # Carried across a switch (dashboard/accounts): the second factor this sign-in used, when
    # the person signed in and last proved it. None: a fresh sign-in, now.
    mfa_method: str | None = None
    signed_in_at: datetime | None = None
    reauth_at: datetime | None = None


PASSWORD = SessionAuth()


@dataclass(frozen=True)
class SsoPolicy:
    connection_id: uuid.UUID
    require_sso: bool
    owner_break_glass: bool


class EntryRefused(Exception):
    """This session may not become active in ``org`` (SSO enforcement)."""

    def __init__(self, org: OrgChoice, auth: SessionAuth, policy: SsoPolicy | None) -> None:
        super().__init__(org.slug)
        self.org = org
        self.auth = auth
        self.policy = policy


def sso_policies(session: Session) -> dict[uuid.UUID, SsoPolicy]:
    """The SSO policy of each of the signed-in user's orgs that has a connection."""
    rows = session.execute(
        text("SELECT org_id, connection_id, require_sso, owner_break_glass"
             " FROM app_user_sso_policies()")
    )
    return {row.org_id: SsoPolicy(row.connection_id, row.require_sso, row.owner_break_glass)
            for row in rows}


def entry_method(
    org: OrgChoice, auth: SessionAuth, policies: dict[uuid.UUID, SsoPolicy]
) -> str | None:
    """The method a session authenticated by ``auth`` has in ``org``; None: refused."""
    if auth.method == "sso":
        return "sso" if org.org_id == auth.sso_org_id else None
    policy = policies.get(org.org_id)
    if policy is None or not policy.require_sso:
        return "password"
    if policy.owner_break_glass and org.role == "owner":
        return "break_glass"
    return None


def enterable_orgs(
    session: Session, orgs: list[OrgChoice], auth: SessionAuth = PASSWORD
) -> list[OrgChoice]:
    policies = sso_policies(session)
    return [o for o in orgs if entry_method(o, auth, policies) is not None]


def auth_of(auth_method: str, sso_org_id: uuid.UUID | None) -> SessionAuth:
    """How a live session was authenticated, as the switch needs it (from the principal)."""
    sso = auth_method == "sso"
    return SessionAuth("sso" if sso else "password", sso_org_id if sso else None)


def session_auth(session: Session, session_id: uuid.UUID) -> SessionAuth:
    record = session.get(UserSession, session_id)
    if record is None:
        return PASSWORD
    sso = record.auth_method == "sso"
    return SessionAuth("sso" if sso else "password", record.sso_org_id if sso else None,
                       record.mfa_method, record.signed_in_at, record.reauth_at)


def preferred_org(orgs: list[OrgChoice], last_org_id: uuid.UUID | None) -> OrgChoice | None:
    active = [o for o in orgs if o.status == "active"] or orgs
    for org in active:
        if org.org_id == last_org_id:
            return org
    return active[0] if active else None


def open_session(
    session: Session, user: User, org: OrgChoice | None, client: Client,
    auth: SessionAuth = PASSWORD,
) -> UserSession:
    """Open a session row; refuses (EntryRefused) an org this authentication may not open."""
    method = auth.method
    if org is not None:
        policies = sso_policies(session)
        method = entry_method(org, auth, policies)
        if method is None:
            raise EntryRefused(org, auth, policies.get(org.org_id))
    record = UserSession(
        id=uuid.uuid4(),
        user_id=user.id,
        org_id=org.org_id if org else None,
        ip=client.ip[:64],
        user_agent=client.user_agent[:300],
        auth_method=method,
        sso_org_id=auth.sso_org_id,
        mfa_method=auth.mfa_method,
    )
    if auth.signed_in_at is not None:
        record.signed_in_at = auth.signed_in_at
    if auth.reauth_at is not None:
        record.reauth_at = auth.reauth_at
    session.add(record)
    if org:
        people.set_last_org(session, org.org_id)
        # Signing in or switching is activity: "Last active" must not say "Never" for someone
        # at work right now (later requests touch it at most once a minute, principal.py).
        session.execute(
            update(Membership)
            .where(Membership.org_id == org.org_id, Membership.user_id == user.id)
            .values(last_active_at=func.now())
        )
    session.flush()
    return record


def revoke_session(session: Session, session_id: uuid.UUID, reason: str) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=func.now(), revoked_reason=reason)
    )


@dataclass(frozen=True)
class SwitchTarget:
    """An org of the signed-in user's, with its SSO policy, read in one statement."""

    org: OrgChoice
    sso: SsoPolicy | None  # None: the org has no SSO connection

    @property
    def policies(self) -> dict[uuid.UUID, SsoPolicy]:
        return {self.org.org_id: self.sso} if self.sso is not None else {}


# Both definer functions answer for app.user_id only (the user's own orgs and policies).
_TARGET_SQL = (
    "SELECT o.org_id, o.slug, o.name, o.status, o.role,"
    " p.connection_id, p.require_sso, p.owner_break_glass"
    " FROM app_user_orgs() o LEFT JOIN app_user_sso_policies() p ON p.org_id = o.org_id"
    " WHERE o.slug = :slug"
)


# The same look-up riding in POST /switch's session check (principal.principal_with): the
# check's context is the one switch_target reads under (the person, their current org);
# columns and parameter named apart from the check's.
SWITCH_RIDER_SQL = (
    "SELECT o.org_id AS target_org_id, o.slug AS target_slug, o.name AS target_name,"
    " o.status AS target_status, o.role AS target_role,"
    " p.connection_id AS target_connection_id, p.require_sso AS target_require_sso,"
    " p.owner_break_glass AS target_owner_break_glass"
    " FROM app_user_orgs() o LEFT JOIN app_user_sso_policies() p ON p.org_id = o.org_id"
    " WHERE o.slug = :target_slug"
)


def switch_target_of(row, *, active_only: bool = True) -> SwitchTarget | None:
    """``switch_target``'s answer from the session check's row that carried
    ``SWITCH_RIDER_SQL`` (no such org of the person's: its columns are NULL)."""
    if row.target_org_id is None or (active_only and row.target_status != "active"):
        return None
    policy = (SsoPolicy(row.target_connection_id, row.target_require_sso,
                        row.target_owner_break_glass)
              if row.target_connection_id is not None else None)
    return SwitchTarget(OrgChoice(row.target_org_id, row.target_slug, row.target_name,
                                  row.target_status, row.target_role), policy)


def switch_target(
    session: Session, target_slug: str, *, active_only: bool = True, alone: bool = False
) -> SwitchTarget | None:
    """The signed-in user's org with that slug, or None (not a member; suspended unless
    ``active_only`` is False).

    ``alone``: the look-up is a transaction of its own, packed into its context statement
    (``tenancy.begin_with``; a transaction still open is committed first): for POST /switch,
    whose session check ran alone too and whose writes begin the new org's transaction."""
    params = {"slug": target_slug}
    if alone:
        row = tenancy.begin_with(session, _TARGET_SQL, params, alone=True)
    else:
        row = first_statement.row(session, _TARGET_SQL, params)
    if row is None or (active_only and row.status != "active"):
        return None
    policy = (SsoPolicy(row.connection_id, row.require_sso, row.owner_break_glass)
              if row.connection_id is not None else None)
    # By name: a packed row (``alone``) has the context statement's columns first.
    return SwitchTarget(OrgChoice(row.org_id, row.slug, row.name, row.status, row.role), policy)


class SessionEnded(Exception):
    """The session being switched was revoked meanwhile: nothing opened."""


# The switch's writes, in one call of an invoker function (migration 0042_switch_one_call):
# the old session revoked and the new one opened in one statement (the new row only if this
# call revoked the old one: a session revoked meanwhile opens nothing); then the membership's
# "last active" (at most once a minute), the person's last org and the switch's audit row (in
# the new org's log). A function call, unlike data-modifying CTEs, rides in the transaction's
# context statement (``tenancy.begin_with``): one statement, one round trip fewer.
_SWITCH_SQL = (
    "SELECT app_switch_session(CAST(:old AS uuid), CAST(:new AS uuid), CAST(:uid AS uuid),"
    " CAST(:org AS uuid), CAST(:ip AS text), CAST(:ua AS text), CAST(:method AS text),"
    " CAST(:audit_org_id AS uuid), CAST(:audit_actor_user_id AS uuid),"
    " CAST(:audit_actor AS text), CAST(:audit_action AS text), CAST(:audit_target AS text),"
    " CAST(:audit_ip AS text), CAST(:audit_user_agent AS text),"
    " CAST(:audit_details AS jsonb), CAST(:idle AS interval)) AS opened"
)


def switch_params(
    user_id: uuid.UUID,
    old_session_id: uuid.UUID,
    new_session_id: uuid.UUID,
    org_id: uuid.UUID,
    client: Client,
    method: str,
    audit: dict,
    idle: timedelta,
) -> dict:
    """The parameters of the switch's writes (``_SWITCH_SQL``): the sessions, the new row's
    client and entry method, the audit row (``audit_values``) with the method added to
    its details, and the idle limit the old session must be within (migration 0049). The
    one builder: bench/ab_switch.py's earlier statements take these too."""
    return {
        "old": old_session_id,
        "uid": user_id,
        "new": new_session_id,
        "org": org_id,
        "ip": client.ip[:64],
        "ua": client.user_agent[:300],
        "method": method,
        "idle": idle,
        **audit_params({**audit, "details": {**audit["details"], "method": method}}),
    }


def rotate_session(
    session: Session | None,
    user_id: uuid.UUID,
    old_session_id: uuid.UUID,
    auth: SessionAuth,
    target: SwitchTarget,
    client: Client,
    audit: dict,
    idle: timedelta,
) -> tuple[uuid.UUID, str]:
    """Revoke the old session id and open a new one for ``target`` (no fixation, no replay);
    returns the new session's id and authentication method.

    ``session`` must be bound to the target org's context (``tenancy.bind_request``); None
    in a request that has made no ORM session: the statement then runs under
    ``context_for(user_id, target)`` through ``tenancy.request_alone`` (which binds the
    request to that context, with the same refusal of another org on an org's own host),
    and no session is made for it (issue 20: making and closing one was ~3 % of a switch's
    CPU). The writes are one statement, packed into its context statement, and that
    statement is the whole transaction (``begin_with(alone=True)``: no BEGIN, no COMMIT;
    PostgreSQL commits it on its own, all of it or nothing). So the switch stands once this
    returns, whatever the request does next; ``session``'s next statement begins a
    transaction of its own.
    ``audit`` is the switch's audit row (``audit_values``), written by the same call, in the
    target org's log. ``idle``: the installation's idle limit, which the old session must
    be within (the function checks it again, after the caller's session check).
    The new session keeps how the old one was authenticated (``auth``, the principal's; the
    row's SSO org, second factor, sign-in and step-up times), so SSO enforcement applies:
    EntryRefused (changing nothing) when that authentication may not open ``target``.
    SessionEnded when the old session was revoked meanwhile, or went idle, or the context is
    not the person's in ``target`` (the function opens nothing then).
    """
    method = entry_method(target.org, auth, target.policies)
    if method is None:
        raise EntryRefused(target.org, auth, target.sso)
    new_id = uuid.uuid4()
    params = switch_params(
        user_id, old_session_id, new_id, target.org.org_id, client, method, audit, idle
    )
    if session is None:  # no ORM session in this request: the statement alone
        row = tenancy.request_alone(context_for(user_id, target.org.org_id), _SWITCH_SQL, params)
    else:
        row = tenancy.begin_with(session, _SWITCH_SQL, params, alone=True)
    if row is None or not row.opened:
        raise SessionEnded()
    return new_id, method


def custom_role_permissions(session: Session, role: str) -> list[str]:
    """Permissions of a custom role in the context's org (built-in roles have none here)."""
    return list(
        session.scalar(select(CustomRole.permissions).where(CustomRole.key == role)) or []
    )


def create_org(session: Session, name: str, slug: str) -> uuid.UUID:
    """Create an org owned by the session's user (through app_create_org)."""
    return session.scalar(
        text("SELECT app_create_org(:name, :slug)"), {"name": name, "slug": slug}
    )


def context_for(user_id: uuid.UUID, org_id: uuid.UUID | None) -> tenancy.TenantContext:
    return tenancy.TenantContext(user_id=user_id, org_id=org_id)
