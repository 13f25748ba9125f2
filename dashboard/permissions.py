"""One permission vocabulary, the built-in roles, and the decorators that guard routes.

Every view carries an access rule (``view.access_rule``) so a test can walk the URL map and
check that nothing was left unguarded: ``public``, ``authenticated``, or a permission name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from functools import wraps

from flask import abort, g


class Permission(StrEnum):
    ORG_VIEW = "org.view"
    ORG_SETTINGS = "org.settings"
    ORG_DELETE = "org.delete"
    MEMBERS_VIEW = "members.view"
    MEMBERS_INVITE = "members.invite"
    MEMBERS_REMOVE = "members.remove"
    ROLES_EDIT = "roles.edit"
    SSO_MANAGE = "sso.manage"
    BILLING_VIEW = "billing.view"
    USAGE_VIEW = "usage.view"
    USAGE_REPORT = "usage.report"  # send usage events to /api/v1/usage/events
    AUDIT_VIEW = "audit.view"
    APIKEYS_MANAGE = "apikeys.manage"
    SCIM_MANAGE = "scim.manage"  # the SCIM page: tokens, group -> role mappings, request log
    WEBHOOKS_MANAGE = "webhooks.manage"
    AUDIT_STREAMS = "audit.streams"  # send the audit log to a SIEM


ALL_PERMISSIONS = frozenset(Permission)


class ApiScope(StrEnum):
    """What a request to /api/v1/ may do. API keys carry the scopes chosen at creation (plus
    ``org:read``, which every key has); a user's access token carries the scopes its role's
    permissions imply (``SCOPE_PERMISSION``)."""

    ORG_READ = "org:read"
    ORG_WRITE = "org:write"  # the org's metadata
    MEMBERS_READ = "members:read"
    MEMBERS_WRITE = "members:write"
    INVITATIONS_READ = "invitations:read"
    INVITATIONS_WRITE = "invitations:write"
    USAGE_READ = "usage:read"
    USAGE_WRITE = "usage:write"
    AUDIT_READ = "audit:read"  # the audit log is append-only: there is no audit:write
    WEBHOOKS_READ = "webhooks:read"
    WEBHOOKS_WRITE = "webhooks:write"
    API_KEYS_READ = "api_keys:read"  # the org's keys (never a secret) and their metadata
    API_KEYS_WRITE = "api_keys:write"  # a key's metadata (creating keys stays in the page)


ALL_API_SCOPES = frozenset(ApiScope)
# Chosen per key on the API keys page; org:read comes with every key.
GRANTABLE_SCOPES = tuple(s for s in ApiScope if s is not ApiScope.ORG_READ)

# The browser permission a signed-in user needs for each scope when calling the API with an
# access token. Operations that need a narrower permission (e.g. removing a member) name it.
SCOPE_PERMISSION: dict[ApiScope, Permission] = {
    ApiScope.ORG_READ: Permission.ORG_VIEW,
    ApiScope.ORG_WRITE: Permission.ORG_SETTINGS,
    ApiScope.MEMBERS_READ: Permission.MEMBERS_VIEW,
    ApiScope.MEMBERS_WRITE: Permission.ROLES_EDIT,
    ApiScope.INVITATIONS_READ: Permission.MEMBERS_INVITE,
    ApiScope.INVITATIONS_WRITE: Permission.MEMBERS_INVITE,
    ApiScope.USAGE_READ: Permission.USAGE_VIEW,
    ApiScope.USAGE_WRITE: Permission.USAGE_REPORT,
    ApiScope.AUDIT_READ: Permission.AUDIT_VIEW,
    ApiScope.WEBHOOKS_READ: Permission.WEBHOOKS_MANAGE,
    ApiScope.WEBHOOKS_WRITE: Permission.WEBHOOKS_MANAGE,
    ApiScope.API_KEYS_READ: Permission.APIKEYS_MANAGE,
    ApiScope.API_KEYS_WRITE: Permission.APIKEYS_MANAGE,
}

# Rank orders the built-in roles: nobody grants a role ranked above their own.
BUILTIN_ROLES: dict[str, dict] = {
    "owner": {"name": "Owner", "rank": 40, "permissions": ALL_PERMISSIONS},
    "admin": {
        "name": "Admin",
        "rank": 30,
        "permissions": ALL_PERMISSIONS - {Permission.ORG_DELETE},
    },
    "member": {
        "name": "Member",
        "rank": 20,
        "permissions": frozenset(
            {Permission.ORG_VIEW, Permission.MEMBERS_VIEW, Permission.USAGE_VIEW}
        ),
    },
    "guest": {"name": "Guest", "rank": 10, "permissions": frozenset({Permission.ORG_VIEW})},
}


# ---------------------------------------------------------------------------- support mode
# Staff inside an org through a time-limited grant with a stated reason, every request
# audited (dashboard/admin/). They see what an admin sees: everything but deleting the org.
SUPPORT_PERMISSIONS = ALL_PERMISSIONS - {Permission.ORG_DELETE}

# Using these leaves access behind that outlives the grant: credentials (API keys, SCIM
# tokens; SSO connections and domains decide who may sign in), invitations (add people),
# role changes and role definitions (promote people). Support mode never changes anything
# through them, whatever the grant allows. A new permission that creates credentials or
# sends data out belongs here.
GRANTS_LASTING_ACCESS = frozenset({
    Permission.APIKEYS_MANAGE,
    Permission.MEMBERS_INVITE,
    Permission.ROLES_EDIT,
    Permission.SSO_MANAGE,
    Permission.SCIM_MANAGE,  # SCIM tokens, and group -> role mappings that grant roles
    # Webhook endpoints and audit streams: signing secrets, and the org's data sent on to
    # wherever they point long after the grant ended.
    Permission.WEBHOOKS_MANAGE,
    Permission.AUDIT_STREAMS,
})
# What support mode with write access (a second reason, stated on entry) may change. Any
# other permission - one added later included, until it is listed here - stays read-only
# in support mode.
SUPPORT_MAY_CHANGE = frozenset({
    Permission.ORG_SETTINGS,
    Permission.MEMBERS_REMOVE,
    Permission.USAGE_REPORT,
})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Leaving support mode always works.
LEAVING_SUPPORT = frozenset({"support.exit_support", "auth.logout"})

SUPPORT_LASTING = (
    "Support mode cannot create lasting access: API keys, invitations, roles and SSO settings"
    " are changed by the organization's own owners and admins."
)
SUPPORT_READ_ONLY = (
    "Support mode is read-only. To change something, leave support mode and enter again with"
    " write access and a reason."
)
SUPPORT_NOT_OPEN = (
    "This change is not open to support mode, even with write access. Leave support mode to"
    " use your own account."
)


def rule_permission(access_rule: str | None) -> Permission | None:
    """The browser permission behind a route's access rule (an API scope: its permission)."""
    if access_rule in ALL_PERMISSIONS:
        return Permission(access_rule)
    if access_rule in ALL_API_SCOPES:
        return SCOPE_PERMISSION[ApiScope(access_rule)]
    return None


def support_refusal(access_rule: str | None, endpoint: str | None, method: str, *,
                    writes: bool) -> str | None:
    """Why a request made in support mode is refused, or None. The one rule of support mode
    (applied to every request by dashboard/admin/support_mode.py)."""
    if method in SAFE_METHODS or endpoint in LEAVING_SUPPORT:
        return None
    permission = rule_permission(access_rule)
    if permission in GRANTS_LASTING_ACCESS:
        return SUPPORT_LASTING
    if not writes:
        return SUPPORT_READ_ONLY
    if permission not in SUPPORT_MAY_CHANGE:
        return SUPPORT_NOT_OPEN
    return None


def permissions_for(role: str, custom_permissions: Iterable[str] | None = None) -> frozenset:
    """Effective permissions of a role key; custom roles bring their own list."""
    if role in BUILTIN_ROLES:
        return BUILTIN_ROLES[role]["permissions"]
    return frozenset(p for p in (custom_permissions or ()) if p in ALL_PERMISSIONS)


def role_label(role: str) -> str:
    return BUILTIN_ROLES.get(role, {}).get("name", role.replace("-", " ").title())


# ---------------------------------------------------------------------------- route guards

PUBLIC = "public"
AUTHENTICATED = "authenticated"
PARTNER = "partner"  # a provider's API credential (dashboard/partner/)
STAFF = "staff"  # Tenantdesk staff (users.is_staff, set by `tenantdesk make-staff`): /admin
SCIM_TOKEN = "scim-token"  # noqa: S105 - an access rule name. An org's SCIM bearer token (dashboard/scim/api.py): /scim/v2


def _mark(view: Callable, rule: str) -> None:
    # Rules: PUBLIC, AUTHENTICATED, a Permission value ("members.view") or, for /api/ routes,
    # an ApiScope value ("members:read", set by dashboard.api.auth.api_scope).
    view.access_rule = rule  # type: ignore[attr-defined]


def public(view: Callable) -> Callable:
    """Reachable without signing in (login page, health check, static metadata)."""
    _mark(view, PUBLIC)
    return view


def authenticated(view: Callable) -> Callable:
    """Any signed-in user; not tied to an org (switcher, create org, own sessions)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if g.get("principal") is None:
            abort(401)
        return view(*args, **kwargs)

    _mark(wrapper, AUTHENTICATED)
    return wrapper


def staff_only(view: Callable) -> Callable:
    """Tenantdesk staff only. The flag is re-read from the database on every request, so
    revoking it takes effect at once; anyone else gets a 404, as if /admin did not exist.
    Staff SQL is checked again in the database (the app_staff_* functions)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        principal = g.get("principal")
        if principal is None:
            abort(401)
        if not principal.is_staff:
            abort(404)
        return view(*args, **kwargs)

    _mark(wrapper, STAFF)
    return wrapper


def requires(permission: Permission | str) -> Callable[[Callable], Callable]:
    """Guard an org-scoped route: signed in, member of the URL's org, holding ``permission``."""
    permission = Permission(permission)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            request_g = g._get_current_object()  # one proxy read on every guarded request
            if request_g.get("principal") is None:
                abort(401)
            membership = request_g.get("membership")
            if membership is None:
                abort(404)
            if permission not in membership.permissions:
                abort(403)
            return view(*args, **kwargs)

        _mark(wrapper, permission.value)
        return wrapper

    return decorator


def can(permission: str) -> bool:
    """For templates: decide what to show. Routes are still guarded by ``requires``."""
    membership = g.get("membership")
    return bool(membership and permission in membership.permissions)
