"""The SCIM page's rules: tokens (create, rotate with overlap, revoke), group -> role
mappings, the request log and last sync. No Flask; runs in the signed-in admin's RLS session.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from dashboard.apikeys import tokens as key_tokens
from dashboard.audit.service import Actor, record_audit
from dashboard.members import roles as role_rules
from dashboard.models import OrgCredential, ScimGroup, ScimGroupMember, ScimRequestLog, ScimUser
from dashboard.scim import groups, roles, service, tokens

NAME_MAX = 100
OVERLAPS = {  # how long the old token keeps working after a rotation
    "0": timedelta(0),
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
}
LOG_KEEP = timedelta(days=30)
RECENT = 50


class ConsoleError(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class CreatedToken:
    id: uuid.UUID
    name: str
    plaintext: str  # shown once, never stored


@dataclass(frozen=True)
class TokenRow:
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def display(self) -> str:
        return tokens.display(self.prefix)

    def status(self, now: datetime) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= now:
            return "expired"
        return "expiring" if self.expires_at else "active"


@dataclass(frozen=True)
class GroupRow:
    id: uuid.UUID
    display_name: str
    role: str | None
    members: int


@dataclass(frozen=True)
class Overview:
    tokens: list[TokenRow]
    groups: list[GroupRow]
    users: int
    active_users: int
    last_sync: datetime | None
    requests: list[ScimRequestLog]


# ----------------------------------------------------------------------------- tokens


def create_token(session: Session, *, org_id: uuid.UUID, name: str, created_by: uuid.UUID | None,
                 hmac_key: bytes, actor: Actor, expires_at: datetime | None = None,
                 action: str = "scim.token_create") -> CreatedToken:
    name = (name or "").strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise ConsoleError(f"Give the token a name of 1–{NAME_MAX} characters.")
    prefix, secret, plaintext = tokens.generate()
    credential = OrgCredential(
        id=uuid.uuid4(), org_id=org_id, kind="scim", name=name, prefix=prefix,
        secret_hash=key_tokens.hash_secret(hmac_key, prefix, secret), scopes=[],
        created_by=created_by, expires_at=expires_at,
    )
    session.add(credential)
    session.flush()
    record_audit(session, org_id=org_id, actor=actor, action=action,
                 target=f"scim-token:{prefix}", after={"name": name})
    return CreatedToken(credential.id, name, plaintext)


# Never the whole row: the secret's hash is not for the runtime role to read.
_TOKEN_COLUMNS = (OrgCredential.id, OrgCredential.name, OrgCredential.prefix,
                  OrgCredential.created_at, OrgCredential.expires_at, OrgCredential.revoked_at,
                  OrgCredential.last_used_at, OrgCredential.org_id)


def _token(session: Session, token_id: str):
    try:
        ident = uuid.UUID(str(token_id))
    except ValueError:
        raise ConsoleError("Not found.", 404) from None
    credential = session.execute(
        select(*_TOKEN_COLUMNS).where(OrgCredential.id == ident, OrgCredential.kind == "scim")
        .with_for_update()
    ).one_or_none()
    if credential is None:  # another org's token reads as missing
        raise ConsoleError("Not found.", 404)
    return credential


def _set(session: Session, token_id: uuid.UUID, **values) -> None:
    session.execute(update(OrgCredential).where(OrgCredential.id == token_id).values(**values)
                    .execution_options(synchronize_session=False))


def rotate_token(session: Session, token_id: str, *, overlap: str, created_by: uuid.UUID | None,
                 hmac_key: bytes, actor: Actor) -> CreatedToken:
    """A new token now; the old one keeps working for the overlap window, then expires."""
    if overlap not in OVERLAPS:
        raise ConsoleError("Choose how long the old token keeps working.")
    old = _token(session, token_id)
    now = datetime.now(UTC)
    if old.revoked_at is not None or (old.expires_at is not None and old.expires_at <= now):
        raise ConsoleError("This token no longer works; create a new one instead.", 409)
    ends = now + OVERLAPS[overlap]
    if old.expires_at is not None and old.expires_at <= ends:
        ends = old.expires_at
    _set(session, old.id, expires_at=ends)
    created = create_token(session, org_id=old.org_id, name=old.name, created_by=created_by,
                           hmac_key=hmac_key, actor=actor, action="scim.token_rotate")
    record_audit(session, org_id=old.org_id, actor=actor, action="scim.token_expire",
                 target=f"scim-token:{old.prefix}", after={"expires_at": ends.isoformat()})
    return created


def revoke_token(session: Session, token_id: str, *, actor: Actor) -> TokenRow:
    credential = _token(session, token_id)
    if credential.revoked_at is None:
        _set(session, credential.id, revoked_at=datetime.now(UTC))
        record_audit(session, org_id=credential.org_id, actor=actor, action="scim.token_revoke",
                     target=f"scim-token:{credential.prefix}", before={"name": credential.name})
    return TokenRow(*credential[:7])


def list_tokens(session: Session) -> list[TokenRow]:
    return [TokenRow(*row[:7]) for row in session.execute(
        select(*_TOKEN_COLUMNS).where(OrgCredential.kind == "scim")
        .order_by(OrgCredential.created_at.desc(), OrgCredential.id)
    )]


# ----------------------------------------------------------------------------- mappings


def set_group_role(session: Session, *, group_id: str, role: str, editor: role_rules.Editor,
                   caller: service.Caller, actor: Actor) -> GroupRow:
    """Map a group to a role ('' = no mapping) and apply it to the group's members now."""
    service.link_accepted_invitations(session)
    group = service.group_by_id(session, group_id, lock=True)
    if group is None:
        raise ConsoleError("Not found.", 404)
    role = (role or "").strip()
    catalogue = role_rules.catalogue(session)
    if role:
        info = catalogue.get(role)
        if info is None:
            raise ConsoleError("Choose one of the organization's roles.")
        if role == role_rules.OWNER:
            raise ConsoleError("SCIM never makes owners: owners are chosen by hand.")
        if not role_rules.may_grant(editor, info):
            raise ConsoleError(f"You cannot grant the {info.name} role.", 403)
    before = group.role
    group.role = role or None
    session.flush()
    record_audit(session, org_id=group.org_id, actor=actor, action="scim.group.map",
                 target=f"group:{group.display_name}", before={"role": before},
                 after={"role": group.role})
    roles.recompute_roles(session, caller, groups.member_ids_of(session, group.id))
    return GroupRow(group.id, group.display_name, group.role,
                    len(groups.member_ids_of(session, group.id)))


# ----------------------------------------------------------------------------- the log


def log_request(session: Session, *, org_id: uuid.UUID, credential_id: uuid.UUID | None,
                method: str, path: str, status: int, outcome: str | None,
                duration_ms: int) -> None:
    session.add(ScimRequestLog(
        org_id=org_id, id=uuid.uuid4(), credential_id=credential_id, method=method[:10],
        path=path[:300], status=status, outcome=(outcome or None) and outcome[:300],
        duration_ms=duration_ms,
    ))
    if secrets.randbelow(100) == 0:  # prune now and then, not on every request
        session.execute(delete(ScimRequestLog).where(
            ScimRequestLog.at < datetime.now(UTC) - LOG_KEEP))
    session.flush()


def overview(session: Session) -> Overview:
    groups = [
        GroupRow(*row) for row in session.execute(
            select(ScimGroup.id, ScimGroup.display_name, ScimGroup.role,
                   func.count(ScimGroupMember.scim_user_id))
            .outerjoin(ScimGroupMember, ScimGroupMember.group_id == ScimGroup.id)
            .group_by(ScimGroup.org_id, ScimGroup.id)
            .order_by(func.lower(ScimGroup.display_name), ScimGroup.id)
        )
    ]
    users, active = session.execute(
        select(func.count(), func.count().filter(ScimUser.active.is_(True)))
        .select_from(ScimUser)
    ).one()
    last_sync = session.scalar(
        select(func.max(ScimRequestLog.at)).where(ScimRequestLog.status < 400)
    )
    requests = list(session.scalars(
        select(ScimRequestLog).order_by(ScimRequestLog.at.desc()).limit(RECENT)
    ))
    return Overview(list_tokens(session), groups, users, active, last_sync, requests)
