"""Roles of an org: the built-in four plus custom roles, and who may grant what. No Flask.

The rules, in one place:
- nobody grants a role (or gives a custom role a permission) they do not hold themselves:
  the role's permissions must be a subset of the editor's;
- only owners make owners, and only owners change or remove an owner (an admin's
  permissions lack ``org.delete``, and the explicit owner check covers a custom role that
  happens to hold every permission);
- you may only touch someone whose current role you could have granted.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dashboard import first_statement
from dashboard.audit.service import Actor, record_audit
from dashboard.licenses import service as licenses
from dashboard.models import CustomRole, Invitation, Membership
from dashboard.permissions import ALL_PERMISSIONS, BUILTIN_ROLES, permissions_for
from dashboard.sql_columns import select_list_width

KEY_RE = re.compile(r"^[a-z0-9_-]{1,40}$")
OWNER = "owner"


@dataclass(frozen=True)
class RoleInfo:
    key: str
    name: str
    permissions: frozenset
    builtin: bool


@dataclass(frozen=True)
class Editor:
    """The person acting: their id, role key and effective permissions in this org."""

    user_id: uuid.UUID
    role: str
    permissions: frozenset


class RoleError(Exception):
    def __init__(self, message: str, *, status: int = 400, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field


UNKNOWN = RoleInfo(key="", name="Unknown role", permissions=frozenset(), builtin=False)


def builtin_roles() -> list[RoleInfo]:
    return list(_BUILTIN)


_BUILTIN = tuple(
    RoleInfo(k, v["name"], frozenset(v["permissions"]), True)
    for k, v in sorted(BUILTIN_ROLES.items(), key=lambda item: -item[1]["rank"])
)
# Every org page that lists members or roles reads this: SQL text, not an expression built
# per request (issue 20). No org filter: RLS gives the current org's roles only.
_CUSTOM_ROLES_SQL = text("SELECT key, name, permissions FROM roles ORDER BY lower(name)")


def catalogue(session: Session) -> dict[str, RoleInfo]:
    """Every role of the current org (RLS): built-in first, then custom by name. One query."""
    return _with_builtin(session.execute(_CUSTOM_ROLES_SQL))


def _with_builtin(custom_roles) -> dict[str, RoleInfo]:
    roles = {r.key: r for r in _BUILTIN}
    for key, name, permissions in custom_roles:
        roles[key] = RoleInfo(key, name, permissions_for(key, permissions), False)
    return roles


# The members page needs the roles and, for the navigation's lock marks and the license
# banner, the org's entitlements: both in one row (issue 20), the roles as an array on the
# org's row. ``r.org_id = o.id`` picks the roles' key; RLS decides which rows are seen.
# ``CATALOGUE_AND_ENTITLEMENTS``: its columns and FROM, for a statement that carries them
# (the members page's, ``service.roles_and_members``), its width the number of columns,
# counted from the columns themselves (the page's UNION pads the members' rows with it).
_CUSTOM_ROLES_COLUMN = (
    "ARRAY(SELECT jsonb_build_array(r.key, r.name, r.permissions) FROM roles r"
    "        WHERE r.org_id = o.id ORDER BY lower(r.name)) AS custom_roles"
)
CATALOGUE_AND_ENTITLEMENTS = (
    f"{licenses.ENTITLEMENTS_COLUMNS}, {_CUSTOM_ROLES_COLUMN}"
    f" FROM {licenses.ENTITLEMENTS_FROM} WHERE o.id = CAST(:org AS uuid)"
)
CATALOGUE_AND_ENTITLEMENTS_WIDTH = (select_list_width(licenses.ENTITLEMENTS_COLUMNS)
                                    + select_list_width(_CUSTOM_ROLES_COLUMN))
_CATALOGUE_AND_ENTITLEMENTS_SQL = f"SELECT {CATALOGUE_AND_ENTITLEMENTS}"
BUILTIN_ROLE_KEYS = frozenset(BUILTIN_ROLES)


def catalogue_with_entitlements(session: Session) -> dict[str, RoleInfo]:
    """``catalogue``, and the current org's entitlements read in the same statement and kept
    for the transaction (``licenses.entitlements`` then answers without a query)."""
    org_id = licenses.current_org(session)
    row = first_statement.row(session, _CATALOGUE_AND_ENTITLEMENTS_SQL,
                              {"org": org_id, **licenses.entitlements_params()})
    if row is None:  # the org's row is not visible: what the two statements would answer
        return catalogue(session)
    return catalogue_from_row(session, org_id, row)


def catalogue_from_row(session: Session, org_id: uuid.UUID, row) -> dict[str, RoleInfo]:
    """The roles from a row with ``CATALOGUE_AND_ENTITLEMENTS``' columns read in this
    transaction for the current org ``org_id``; its entitlements kept for the transaction."""
    licenses.remember_entitlements(session, org_id, row)
    return _with_builtin(row.custom_roles)


def custom_role(session: Session, key: str) -> RoleInfo | None:
    """One custom role of the current org by key (another org's key finds nothing)."""
    if not KEY_RE.match(key or "") or key in BUILTIN_ROLES:
        return None
    row = session.execute(
        select(CustomRole.name, CustomRole.permissions).where(CustomRole.key == key)
    ).one_or_none()
    return RoleInfo(key, row.name, permissions_for(key, row.permissions), False) if row else None


def role_of(roles: dict[str, RoleInfo], key: str) -> RoleInfo:
    return roles.get(key) or RoleInfo(key, key, frozenset(), False)


def may_grant(editor: Editor, role: RoleInfo) -> bool:
    if role.key == OWNER:
        return editor.role == OWNER
    return role.permissions <= editor.permissions


def may_manage(editor: Editor, current: RoleInfo) -> bool:
    """May ``editor`` change or remove someone who currently holds ``current``?"""
    return may_grant(editor, current)


def grantable(editor: Editor, roles: dict[str, RoleInfo]) -> list[RoleInfo]:
    return [r for r in roles.values() if may_grant(editor, r)]


# ------------------------------------------------------------------------ custom roles


def _slug_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")


def _clean_permissions(editor: Editor, requested) -> frozenset:
    requested = frozenset(requested or ())
    unknown = requested - {p.value for p in ALL_PERMISSIONS}
    if unknown:
        raise RoleError(f"Unknown permission: {', '.join(sorted(unknown))}.", field="permissions")
    beyond = requested - editor.permissions
    if beyond:
        raise RoleError(
            "You cannot grant permissions you do not hold yourself: "
            f"{', '.join(sorted(beyond))}.",
            status=403,
            field="permissions",
        )
    return requested


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= 60:
        raise RoleError("Give the role a name of 1–60 characters.", field="name")
    return name


def _load(session: Session, key: str) -> CustomRole:
    role = session.scalar(select(CustomRole).where(CustomRole.key == key).with_for_update())
    if role is None:
        raise RoleError("Not found.", status=404)
    return role


def create_role(
    session: Session, *, org_id: uuid.UUID, editor: Editor, name: str, permissions, actor: Actor
) -> RoleInfo:
    name = _clean_name(name)
    key = _slug_key(name)
    if not KEY_RE.match(key):
        raise RoleError("Use letters or digits in the role name.", field="name")
    if key in BUILTIN_ROLES:
        raise RoleError("That name belongs to a built-in role. Choose another.", field="name")
    granted = _clean_permissions(editor, permissions)
    try:
        with session.begin_nested():
            session.add(CustomRole(org_id=org_id, key=key, name=name, permissions=sorted(granted)))
    except IntegrityError as exc:
        raise RoleError("A role with that name already exists.", field="name") from exc
    record_audit(session, org_id=org_id, actor=actor, action="role.create", target=f"role:{key}",
                 after={"name": name, "permissions": sorted(granted)})
    return RoleInfo(key, name, granted, False)


def update_role(
    session: Session, *, editor: Editor, key: str, name: str, permissions, actor: Actor
) -> RoleInfo:
    role = _load(session, key)
    current = permissions_for(key, role.permissions)
    if not current <= editor.permissions:
        raise RoleError("This role holds permissions you do not have; you cannot edit it.",
                        status=403)
    name = _clean_name(name)
    granted = _clean_permissions(editor, permissions)
    before = {"name": role.name, "permissions": sorted(role.permissions)}
    role.name = name
    role.permissions = sorted(granted)
    session.flush()
    record_audit(session, org_id=role.org_id, actor=actor, action="role.update",
                 target=f"role:{key}", before=before,
                 after={"name": name, "permissions": sorted(granted)})
    return RoleInfo(key, name, granted, False)


def delete_role(session: Session, *, editor: Editor, key: str, actor: Actor) -> None:
    role = _load(session, key)
    if not permissions_for(key, role.permissions) <= editor.permissions:
        raise RoleError("This role holds permissions you do not have; you cannot delete it.",
                        status=403)
    holders = session.scalar(select(func.count()).where(Membership.role == key))
    pending = session.scalar(
        select(func.count()).where(Invitation.role == key, Invitation.status == "pending")
    )
    if holders or pending:
        raise RoleError(
            f"{holders} member(s) and {pending} pending invitation(s) use this role. "
            "Give them another role first.",
            status=409,
        )
    record_audit(session, org_id=role.org_id, actor=actor, action="role.delete",
                 target=f"role:{key}",
                 before={"name": role.name, "permissions": sorted(role.permissions)})
    session.delete(role)
    session.flush()
