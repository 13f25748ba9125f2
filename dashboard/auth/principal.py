"""Who is making this request: the browser session token checked against the database.

The token (Flask's signed session cookie) names the session id, user, active org and role.
Each request re-reads the session row, the user and the membership in one query under the
RLS context of that user and org, so a revoked session, a removed member, a changed role or a
suspended org takes effect on the very next request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app, g, request, session
from flask_login import LoginManager, UserMixin
from flask_login.config import COOKIE_NAME as _REMEMBER_COOKIE
from sqlalchemy import text

from dashboard import tenancy
from dashboard.accounts.policy import session_end_reason
from dashboard.api.bearer import is_bearer_api_request
from dashboard.permissions import BUILTIN_ROLES, SUPPORT_PERMISSIONS, permissions_for

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = None
login_manager.session_protection = None  # the server-side session row does this job

TOUCH_EVERY = timedelta(seconds=60)


@dataclass
class Principal(UserMixin):
    session_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    name: str
    is_staff: bool
    # How this session was authenticated (dashboard/accounts: MFA policy, step-up).
    auth_method: str = "password"
    mfa_method: str | None = None
    reauth_at: object = None
    time_zone: str | None = None  # IANA name; None until the browser or the profile sets it
    sso_org_id: uuid.UUID | None = None  # an SSO session's org (the switch keeps it there)

    def get_id(self) -> str:  # Flask-Login keeps the session id, not the user id
        return str(self.session_id)


@dataclass
class ActiveMembership:
    org_id: uuid.UUID
    slug: str
    name: str
    plan: str
    role: str
    permissions: frozenset = field(default_factory=frozenset)
    security: dict | None = None  # the org's security policy (dashboard/accounts/policy.py)
    branding: dict | None = None  # the org's branding row (dashboard/hosts), read in the load


# The session row must match the token exactly (user and org), and the org must be active:
# a membership in a suspended org loads no membership, so its pages answer "suspended".
# The token's ids arrive as canonical UUID text or '' (``tenancy.canonical_id``: anything
# else becomes ''), so ``NULLIF(:x, '')::uuid`` is what ``app_uuid(:x)`` gives, without the
# translate the prepared statement's generic plan evaluated at each use (issue 20).
_LOAD_QUERY = """
    SELECT s.id AS sid, s.last_seen_at, u.id AS uid, u.email, u.name, u.is_staff, u.time_zone,
           o.id AS org_id, o.slug, o.name AS org_name, o.plan,
           coalesce(m.role, CASE WHEN sg.id IS NOT NULL THEN 'support' END) AS role,
           m.role IS NOT NULL AS is_member,
           -- A custom role's permissions: read only for one (a built-in role's come from
           -- code), so the gate is not asked for a roles row nobody uses.
           CASE WHEN m.role <> ALL(:builtin) THEN (
             SELECT r.permissions FROM roles r WHERE r.org_id = m.org_id AND r.key = m.role)
           END AS custom_permissions,
           sg.id AS support_grant_id, sg.expires_at AS support_expires_at,
           sg.reason AS support_reason, sg.write_reason AS support_write_reason,
           now() - s.last_seen_at > :touch AS stale,
           s.auth_method, s.mfa_method, s.reauth_at, o.settings->'security' AS security,
           s.sso_org_id,
           date_part('epoch', now() - s.signed_in_at) AS age_s,  -- float8, not numeric
           date_part('epoch', now() - s.last_seen_at) AS idle_s,
           -- last, so columns named by position above keep their places (dashboard/hosts)
           CASE WHEN b.org_id IS NOT NULL THEN jsonb_build_object(
             'display_name', b.display_name, 'primary_color', b.primary_color,
             'support_contact', b.support_contact, 'logo_sha256', b.logo_sha256,
             'white_label', b.white_label) END AS branding
      FROM user_sessions s
      JOIN users u ON u.id = s.user_id AND u.is_active
      LEFT JOIN memberships m ON m.user_id = u.id AND m.org_id = NULLIF(:oid, '')::uuid
      -- Staff in support mode: an unexpired, unrevoked grant named by the token.
      LEFT JOIN support_grants sg ON :sg <> '' AND sg.id = NULLIF(:sg, '')::uuid
             AND sg.org_id = NULLIF(:oid, '')::uuid
             AND sg.staff_user_id = u.id AND u.is_staff
             AND sg.revoked_at IS NULL AND sg.expires_at > now()
      LEFT JOIN organizations o ON o.id = coalesce(m.org_id, sg.org_id) AND o.status = 'active'
      LEFT JOIN org_branding b ON b.org_id = o.id  -- the top bar's brand (dashboard/hosts)
     WHERE s.id = NULLIF(:sid, '')::uuid AND s.user_id = NULLIF(:uid, '')::uuid
       AND s.org_id IS NOT DISTINCT FROM NULLIF(:oid, '')::uuid
       AND s.revoked_at IS NULL
       -- IS TRUE: the same verdict (last_seen_at is NOT NULL), but not an index condition, so
       -- the planner cannot take the (user_id, last_seen_at) index and filter every live
       -- session of the user for the id: (user_id, id) finds the one row (issue 20).
       AND (s.last_seen_at > now() - :idle) IS TRUE
    """
_BUILTIN = sorted(BUILTIN_ROLES)
# The built-in role names are code's constants: written into the SQL once (psycopg adapting
# a list parameter on every request cost more than the rest of the parameters together).
assert all(role.replace("_", "").isalnum() for role in _BUILTIN)
_LOAD_QUERY = _LOAD_QUERY.replace(
    ":builtin", "ARRAY[" + ", ".join(f"'{role}'" for role in _BUILTIN) + "]")
_LOAD_SQL = text(_LOAD_QUERY)  # the same query on its own (bench/bench_people.py)
# A token that names no support grant (every one but staff's in support mode) joins no grant
# row: the same columns, all NULL, as the join above gives when ``:sg`` is ''. Written out,
# the prepared statement's generic plan cannot fold ``:sg <> ''`` away, so it read
# support_grants and asked the gate for its policy on every request (issue 20).
_SUPPORT_JOIN = _LOAD_QUERY[_LOAD_QUERY.index("      -- Staff in support mode"):
                            _LOAD_QUERY.index("      LEFT JOIN organizations o")]
_LOAD_QUERY_NO_GRANT = _LOAD_QUERY.replace(_SUPPORT_JOIN, (
    "      LEFT JOIN (SELECT NULL::uuid AS id, NULL::uuid AS org_id,"
    " NULL::timestamptz AS expires_at,\n"
    "                        NULL::text AS reason, NULL::text AS write_reason) sg ON false\n"))


def _without_comments(sql: str) -> str:
    """``sql`` without its ``--`` comments and indentation: the same statement, sent shorter.

    psycopg keeps its parse of a statement's ``%(name)s`` placeholders only for texts of at
    most 4,096 bytes (``psycopg._queries.MAX_CACHED_STATEMENT_LENGTH``); longer ones are
    parsed again on every execution. Packed into the context statement with POST /switch's
    target look-up, the commented check was 4,106 bytes (issue 20). No literal in the check
    holds ``--`` (asserted: a quote before a comment would be an odd count)."""
    lines = []
    for line in sql.splitlines():
        code = line.split("--", 1)[0]
        assert code.count("'") % 2 == 0, line
        if code.strip():
            lines.append(code.strip())
    return "\n".join(lines)


_LOAD_QUERY = _without_comments(_LOAD_QUERY)
_LOAD_QUERY_NO_GRANT = _without_comments(_LOAD_QUERY_NO_GRANT)


@dataclass(frozen=True)
class SupportMode:
    """A staff member inside an org through a time-limited, audited support grant."""

    grant_id: uuid.UUID
    expires_at: object
    reason: str
    write_reason: str | None = None  # None: read-only (the default)

    @property
    def writes(self) -> bool:
        return self.write_reason is not None


def load_identity(
    session_id: str, user_id: str, org_id: str, *, touch: bool = True, support_grant: str = "",
    alone: bool = False, rider: tuple[str, dict] | None = None,
):
    """Check a session id against the database under the (user, org) RLS context.

    Sets ``g.membership`` (None when the membership is gone or the org is suspended) and
    returns the Principal, or None when the session is unknown, revoked, idle or its user
    is deactivated. Also used for bearer tokens, with ``touch=False``.

    ``alone``: the check is a transaction of its own (``tenancy.begin_with``), for a view
    that needs nothing else from the database (``principal_only``).

    ``rider``: ``(sql, params)``, a read the view needs (``principal_with``) in the same
    statement, under the same context, run only for a session the check finds live; its row
    (columns named apart from the check's) is ``g.principal_rider`` as ``(params, row)``.
    """
    context = tenancy.TenantContext(user_id=user_id or None, org_id=org_id or None)
    sql = _LOAD_QUERY if support_grant else _LOAD_QUERY_NO_GRANT
    params = {
        "sid": tenancy.canonical_id(session_id),
        "uid": tenancy.canonical_id(user_id),
        "oid": tenancy.canonical_id(org_id),
        "sg": tenancy.canonical_id(support_grant),
        "touch": TOUCH_EVERY,
        "idle": timedelta(days=current_app.config["SESSION_IDLE_DAYS"]),
    }
    # In the statement that sets the transaction's RLS context: one round trip, not two.
    if rider is not None:
        sql = _with_rider(sql, rider[0])
        params.update(rider[1])
    if alone:
        # Its own transaction: no ORM session is made for it (one is, by request_session,
        # for anything later in the request that uses the database, under this context).
        row = tenancy.request_alone(context, sql, params)
    else:
        row = tenancy.begin_with(tenancy.bind_request(context), sql, params)
    if row is None:
        tenancy.bind_request_lazily(tenancy.NOBODY)
        return None
    db = None if alone else tenancy.request_session()
    ended = session_end_reason(row.security, row.age_s, row.idle_s, current_app.config)
    if ended:  # past the org's (or the installation's) session age or idle limit
        db = db or tenancy.request_session()
        db.execute(
            text("UPDATE user_sessions SET revoked_at = now(), revoked_reason = :why"
                 " WHERE id = :sid AND revoked_at IS NULL"),
            {"sid": row.sid, "why": ended},
        )
        db.commit()
        tenancy.bind_request(tenancy.NOBODY)
        return None
    if row.stale and touch:
        session.modified = True  # re-send the cookie: its expiry follows the row's
        db = db or tenancy.request_session()
        db.execute(
            text("UPDATE user_sessions SET last_seen_at = now() WHERE id = :sid"),
            {"sid": row.sid},
        )
        if row.org_id and row.is_member:
            db.execute(
                text(
                    "UPDATE memberships SET last_active_at = now()"
                    " WHERE org_id = :org AND user_id = :uid"
                ),
                {"org": row.org_id, "uid": row.uid},
            )
    request_g = g._get_current_object()
    request_g.membership = None
    request_g.support = None
    if rider is not None:
        request_g.principal_rider = (rider[1], row)
    if row.support_grant_id is not None:
        request_g.support = SupportMode(row.support_grant_id, row.support_expires_at,
                                        row.support_reason, row.support_write_reason)
    if row.org_id is not None:
        permissions = (
            permissions_for(row.role, row.custom_permissions)
            if row.is_member
            else SUPPORT_PERMISSIONS
        )
        request_g.membership = ActiveMembership(
            org_id=row.org_id,
            slug=row.slug,
            name=row.org_name,
            plan=row.plan,
            role=row.role,
            permissions=permissions,
            security=row.security,
            branding=row.branding,
        )
    return Principal(
        session_id=row.sid, user_id=row.uid, email=row.email, name=row.name,
        is_staff=row.is_staff, auth_method=row.auth_method, mfa_method=row.mfa_method,
        reauth_at=row.reauth_at, time_zone=row.time_zone, sso_org_id=row.sso_org_id,
    )


@login_manager.user_loader
def load_principal(session_id: str) -> Principal | None:
    return _load_principal(session._get_current_object(), session_id)


def _with_rider(query: str, rider_sql: str) -> str:
    """The check, then the rider's read for its row: a LEFT JOIN LATERAL on the check's one
    row (no live session, no row: the rider is not run); the check's columns first."""
    sql = _RIDDEN.get((query, rider_sql))
    if sql is None:
        sql = _RIDDEN[(query, rider_sql)] = (
            f"SELECT chk.*, rider.* FROM ({query}) AS chk"
            f" LEFT JOIN LATERAL ({rider_sql}) AS rider ON true")
    return sql


_RIDDEN: dict[tuple[str, str], str] = {}


def _load_principal(cookie, session_id: str, alone: bool = False,
                    rider: tuple[str, dict] | None = None) -> Principal | None:
    # ``cookie``: the session itself, its proxy read once (not five times)
    principal = load_identity(
        session_id,
        str(cookie.get("uid") or ""),
        str(cookie.get("oid") or ""),
        support_grant=str(cookie.get("sg") or ""),
        alone=alone,
        rider=rider,
    )
    membership = g.get("membership")
    if membership is not None and cookie.get("role") != membership.role:
        cookie["role"] = membership.role  # role changed since the token was issued
    return principal


def _principal_of(request_g, req, fast: bool):
    """Flask-Login's ``current_user`` for this request, loaded the way Flask-Login loads it,
    without its lookup chain when nothing else could apply (issue 20).

    With session protection off and no request or header loader (this app registers none),
    Flask-Login's user for a session naming a session id is the loader's answer, or the
    anonymous user; only a remember-me cookie (never issued here) could add anything, so a
    request carrying one goes the stock way. Stock, Flask-Login also hashes the client's
    address and user agent for session protection before finding it off, on every request."""
    cookie = session._get_current_object()
    session_id = cookie.get("_user_id")
    if not fast or session_id is None or _REMEMBER_COOKIE in req.cookies \
            or "_login_user" in request_g:
        from flask_login import current_user

        return current_user._get_current_object()
    view = current_app.view_functions.get(req.endpoint)
    rider = getattr(view, "principal_rider", None)
    principal = _load_principal(cookie, session_id, getattr(view, "principal_only", False),
                                rider(req) if rider is not None else None)
    if principal is None:
        principal = login_manager.anonymous_user()
    request_g._login_user = principal  # where current_user finds it, as Flask-Login puts it
    return principal


def principal_only(view):
    """Mark a view that needs nothing from the database but what the principal loader reads
    (the session row, the user, the membership and role, under the RLS context). The loader's
    statement is then a transaction of its own: no BEGIN, no COMMIT, two round trips fewer
    (issue 20: the cost floor). Every check still runs, in that statement; anything that
    does use the database later in the request (a session touch, support mode's audit row)
    begins a new transaction, with its context statement as every transaction."""
    view.principal_only = True
    return view


def principal_with(rider):
    """``principal_only``, and the view's own one read rides in the check's statement:
    ``rider(request)`` gives ``(sql, params)`` (or None: nothing to read this time). The
    view finds ``(params, row)`` in ``g.principal_rider`` when the check carried it, and
    reads for itself otherwise (Flask-Login's stock path loads the principal without it)."""
    def mark(view):
        view.principal_rider = rider
        return principal_only(view)
    return mark


def client_info():
    from dashboard.auth.service import Client

    return Client(
        ip=request.remote_addr or "unknown", user_agent=request.headers.get("User-Agent", "")
    )


def issue_token(
    principal_session_id: uuid.UUID, user_id: uuid.UUID, org_id, role, *, keep_csrf: bool = True
) -> None:
    """Write the signed browser token for a freshly opened session row.

    ``keep_csrf`` keeps the CSRF secret across an org switch, so a form still open in another
    tab reaches the "you switched organisation" page instead of a CSRF error. Sign-in starts
    a fresh one.
    """
    cookie = session._get_current_object()  # the session itself: one proxy read, not 12
    csrf = cookie.get("csrf_token") if keep_csrf else None
    sso_logout = cookie.get("sso_slo") if keep_csrf else None  # an org switch keeps it
    cookie.clear()
    if csrf:
        cookie["csrf_token"] = csrf
    if sso_logout:
        cookie["sso_slo"] = sso_logout
    cookie["uid"] = str(user_id)
    cookie["oid"] = str(org_id) if org_id else ""
    cookie["role"] = role or ""
    cookie["_user_id"] = str(principal_session_id)
    cookie["_fresh"] = True
    cookie.permanent = True


def init_app(app) -> None:
    login_manager.init_app(app)
    # Flask-Login's own path only where it could differ (see _principal_of).
    fast = not app.config.get("SESSION_PROTECTION", login_manager.session_protection) \
        and login_manager._request_callback is None and login_manager._header_callback is None \
        and app.config.get("REMEMBER_COOKIE_NAME", _REMEMBER_COOKIE) == _REMEMBER_COOKIE

    @app.before_request
    def _load():
        request_g = g._get_current_object()  # one proxy read for the four writes
        request_g.tenant_context = tenancy.NOBODY
        request_g.membership = None
        request_g.support = None
        request_g.principal = None
        req = request._get_current_object()
        if req.endpoint == "static":
            return
        if req.path.startswith("/api/"):
            from dashboard.auth.bearer import bearer_jwt, load_bearer_principal

            if bearer_jwt() is not None:
                # A bearer token alone decides who calls; the cookie is not even read, and a
                # bad token is a 401 rather than a fall-back to the browser session.
                return load_bearer_principal()
            if is_bearer_api_request():
                # Any other bearer credential (an org API key) is dashboard/api/auth.py's;
                # the cookie is not read for it either.
                return None
        principal = _principal_of(request_g, req, fast)
        if principal.is_authenticated:
            # The object, not Flask-Login's proxy: every later read of g.principal would go
            # through the proxy and Flask-Login's user lookup again.
            request_g.principal = principal
        elif session.get("_user_id"):
            # A revoked, expired or tampered-with session: forget it, keep nothing from it.
            session.clear()
