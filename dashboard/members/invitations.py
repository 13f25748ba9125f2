"""Invitations: send, refresh, resend, revoke, look up by token and accept. No Flask.

A token is 32 random bytes (URL-safe text); only its SHA-256 is stored, so a database leak
yields no usable link. Resending issues a new token (the old link stops working).

Before the invitee belongs to the org nothing about it is readable under RLS, so the token is
resolved by the narrow ``app_invitation_lookup`` definer function, and joining goes through
``app_accept_invitation`` (see migrations/versions/0005_members.py for why).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from dashboard import people, tenancy
from dashboard.audit.service import Actor, record_audit
from dashboard.members.roles import Editor, RoleInfo, may_grant, may_manage, role_of
from dashboard.members.seats import seats_in_use
from dashboard.models import Invitation, Membership, User

MAX_PER_SUBMISSION = 50
MESSAGE_MAX = 1000
NAME_MAX = 100
TOKEN_MAX = 100  # longer than any token we issue: refuse before hashing
_SPLIT = re.compile(r"[,;\s]+")


class InvitationError(Exception):
    def __init__(self, message: str, *, status: int = 400, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field


@dataclass(frozen=True)
class IssuedInvitation:
    """A freshly (re)issued invitation, with the clear token to put in the email only."""

    id: uuid.UUID
    email: str
    role: RoleInfo
    message: str | None
    token: str
    expires_at: datetime
    refreshed: bool


@dataclass(frozen=True)
class InviteResult:
    issued: list[IssuedInvitation]
    already_members: list[str]
    invalid: tuple[str, ...] = ()  # addresses skipped as malformed (skip_invalid=True only)


@dataclass(frozen=True)
class PendingInvitation:
    id: uuid.UUID
    email: str
    role: RoleInfo
    invited_by: str | None
    sent_at: datetime
    send_count: int
    expires_at: datetime
    expired: bool
    can_manage: bool


@dataclass(frozen=True)
class TokenView:
    """What the public invitation page may know (the look-up function's columns)."""

    invitation_id: uuid.UUID
    org_id: uuid.UUID
    org_name: str
    email: str
    role: str
    status: str
    expires_at: datetime

    @property
    def state(self) -> str:
        if self.status == "revoked":
            return "revoked"
        if self.status == "accepted":
            return "used"
        if self.expires_at <= datetime.now(UTC):
            return "expired"
        return "pending"


@dataclass(frozen=True)
class Joined:
    org_id: uuid.UUID
    slug: str
    role: str


class AcceptRefused(Exception):
    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


# ------------------------------------------------------------------------ tokens


def new_token() -> tuple[str, bytes]:
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


# ------------------------------------------------------------------------ sending


def parse_addresses(raw: str) -> list[str]:
    """Comma/semicolon/newline separated addresses, validated and de-duplicated; one bad
    address refuses them all (the API's all-or-nothing contract)."""
    addresses, bad = split_addresses(raw)
    if bad:
        raise InvitationError(f"Not valid email addresses: {shown_list(bad)}", field="emails")
    return addresses


def shown_list(bad: list[str]) -> str:
    return ", ".join(b[:80] for b in bad[:10]) + (" …" if len(bad) > 10 else "")


def split_addresses(raw: str) -> tuple[list[str], list[str]]:
    """(valid addresses, de-duplicated; the parts that are not addresses). Refuses only an
    empty or oversized submission."""
    parts = [p for p in _SPLIT.split(raw or "") if p]
    if not parts:
        raise InvitationError("Enter at least one email address.", field="emails")
    if len(parts) > MAX_PER_SUBMISSION:
        raise InvitationError(
            f"Invite at most {MAX_PER_SUBMISSION} addresses at a time; you entered "
            f"{len(parts):,}.",
            field="emails",
        )
    addresses: dict[str, str] = {}
    bad = []
    for part in parts:
        try:
            address = validate_email(part, check_deliverability=False).normalized
        except EmailNotValidError:
            bad.append(part)
            continue
        addresses.setdefault(address.lower(), address)
    return list(addresses.values()), bad


def _clean_message(message: str | None) -> str | None:
    message = (message or "").strip()
    if len(message) > MESSAGE_MAX:
        raise InvitationError(f"Keep the message under {MESSAGE_MAX} characters.",
                              field="message")
    return message or None


def _lock_seats(session: Session, org_id: uuid.UUID) -> None:
    # Serialise invitations per org so two submissions cannot both take the last seat.
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"tenantdesk.seats.{org_id}"},
    )


def _check_seats(session: Session, org_id: uuid.UUID, limit: int | None, extra: int) -> None:
    if limit is None or extra <= 0:
        return
    used = seats_in_use(session, org_id)
    if used + extra > limit:
        free = max(0, limit - used)
        raise InvitationError(
            f"Your plan allows {limit} seats and {used} are taken by members and pending "
            f"invitations, so {free} more can be invited. Revoke invitations, remove members "
            "or upgrade the plan.",
            status=409,
            field="emails",
        )


def _issue(invitation: Invitation, ttl_days: int, now: datetime) -> str:
    token, digest = new_token()
    invitation.token_hash = digest
    invitation.expires_at = now + timedelta(days=ttl_days)
    invitation.sent_at = now
    return token


def _snapshot(invitation: Invitation) -> dict:
    return {
        "email": invitation.email,
        "role": invitation.role,
        "status": invitation.status,
        "expires_at": invitation.expires_at.isoformat() if invitation.expires_at else None,
        "send_count": invitation.send_count,
    }


def invite(
    session: Session,
    *,
    org_id: uuid.UUID,
    editor: Editor,
    roles: dict[str, RoleInfo],
    emails: str,
    role: str,
    message: str | None,
    ttl_days: int,
    seat_limit: int | None,
    actor: Actor,
    skip_invalid: bool = False,
) -> InviteResult:
    """Invite ``emails``. With ``skip_invalid`` (the web form) malformed addresses are left
    out and reported in ``InviteResult.invalid`` while the valid ones are sent; without it
    (API, partner, SCIM) one malformed address refuses the whole batch."""
    if skip_invalid:
        addresses, invalid = split_addresses(emails)
        if not addresses:
            raise InvitationError(f"Not valid email addresses: {shown_list(invalid)}",
                                  field="emails")
    else:
        addresses, invalid = parse_addresses(emails), []
    target = roles.get(role)
    if target is None:
        raise InvitationError("Choose one of the organization's roles.", field="role")
    if not may_grant(editor, target):
        raise InvitationError(f"You cannot invite people as {target.name}.", status=403,
                              field="role")
    note = _clean_message(message)
    keys = [a.lower() for a in addresses]

    _lock_seats(session, org_id)
    members = set(session.scalars(
        select(func.lower(User.email))
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.org_id == org_id, func.lower(User.email).in_(keys))
    ))
    pending = {
        inv.email.lower(): inv
        for inv in session.scalars(
            select(Invitation)
            .where(Invitation.org_id == org_id, Invitation.status == "pending",
                   func.lower(Invitation.email).in_(keys))
            .with_for_update()
        )
    }
    now = datetime.now(UTC)
    for key in keys:
        existing = pending.get(key)
        if existing is not None and not may_manage(editor, role_of(roles, existing.role)):
            raise InvitationError(
                f"{existing.email} already has a pending invitation you cannot change.",
                status=403, field="emails",
            )
    to_invite = [a for a in addresses if a.lower() not in members]
    new_seats = sum(
        1 for a in to_invite
        if a.lower() not in pending or pending[a.lower()].expires_at <= now
    )
    _check_seats(session, org_id, seat_limit, new_seats)

    issued = []
    for address in to_invite:
        invitation = pending.get(address.lower())
        refreshed = invitation is not None
        before = _snapshot(invitation) if refreshed else None
        if invitation is None:
            invitation = Invitation(
                org_id=org_id, id=uuid.uuid4(), email=address, invited_by=editor.user_id,
                send_count=0,
            )
            session.add(invitation)
        invitation.role = target.key
        invitation.message = note
        invitation.send_count = (invitation.send_count or 0) + 1
        token = _issue(invitation, ttl_days, now)
        session.flush()
        record_audit(
            session, org_id=org_id, actor=actor,
            action="invitation.refresh" if refreshed else "invitation.create",
            target=f"invitation:{address}", before=before, after=_snapshot(invitation),
        )
        issued.append(IssuedInvitation(invitation.id, address, target, note, token,
                                       invitation.expires_at, refreshed))
    already = [a for a in addresses if a.lower() in members]
    return InviteResult(issued, already, tuple(invalid))


def pending_invitations(
    session: Session, *, editor: Editor, roles: dict[str, RoleInfo]
) -> list[PendingInvitation]:
    inviter = aliased(User)
    rows = session.execute(
        select(Invitation.id, Invitation.email, Invitation.role, inviter.name,
               Invitation.sent_at, Invitation.send_count, Invitation.expires_at,
               Invitation.expires_at <= func.now())
        .outerjoin(inviter, inviter.id == Invitation.invited_by)
        .where(Invitation.status == "pending")
        .order_by(Invitation.sent_at.desc())
        .limit(500)
    ).all()
    return [
        PendingInvitation(r[0], r[1], role_of(roles, r[2]), r[3], r[4], r[5], r[6], r[7],
                          may_manage(editor, role_of(roles, r[2])))
        for r in rows
    ]


def _load_pending(session: Session, invitation_id: uuid.UUID, editor: Editor,
                  roles: dict[str, RoleInfo]) -> Invitation:
    invitation = session.scalar(
        select(Invitation).where(Invitation.id == invitation_id).with_for_update()
    )
    if invitation is None:  # missing, or another org's (RLS): the same answer
        raise InvitationError("Not found.", status=404)
    if invitation.status != "pending":
        raise InvitationError(f"This invitation was already {invitation.status}.", status=409)
    if not may_manage(editor, role_of(roles, invitation.role)):
        raise InvitationError("You cannot change an invitation for a role above yours.",
                              status=403)
    return invitation


def resend(
    session: Session,
    *,
    org_id: uuid.UUID,
    editor: Editor,
    roles: dict[str, RoleInfo],
    invitation_id: uuid.UUID,
    ttl_days: int,
    seat_limit: int | None,
    actor: Actor,
) -> IssuedInvitation:
    _lock_seats(session, org_id)
    invitation = _load_pending(session, invitation_id, editor, roles)
    now = datetime.now(UTC)
    if invitation.expires_at <= now:  # a lapsed invitation takes its seat back
        _check_seats(session, org_id, seat_limit, 1)
    before = _snapshot(invitation)
    token = _issue(invitation, ttl_days, now)
    invitation.send_count += 1
    session.flush()
    record_audit(session, org_id=org_id, actor=actor, action="invitation.resend",
                 target=f"invitation:{invitation.email}", before=before,
                 after=_snapshot(invitation))
    return IssuedInvitation(invitation.id, invitation.email, role_of(roles, invitation.role),
                            invitation.message, token, invitation.expires_at, True)


def revoke(
    session: Session,
    *,
    org_id: uuid.UUID,
    editor: Editor,
    roles: dict[str, RoleInfo],
    invitation_id: uuid.UUID,
    actor: Actor,
) -> str:
    invitation = _load_pending(session, invitation_id, editor, roles)
    before = _snapshot(invitation)
    invitation.status = "revoked"
    invitation.revoked_at = datetime.now(UTC)
    session.flush()
    record_audit(session, org_id=org_id, actor=actor, action="invitation.revoke",
                 target=f"invitation:{invitation.email}", before=before,
                 after=_snapshot(invitation))
    return invitation.email


# ------------------------------------------------------------------------ the invitee's side


def lookup(session: Session, token: str) -> TokenView | None:
    """Resolve a token through the definer function: works with no tenant context at all."""
    if not token or len(token) > TOKEN_MAX:
        return None
    row = session.execute(
        text("SELECT invitation_id, org_id, org_name, email, role, status, expires_at"
             " FROM app_invitation_lookup(:h)"),
        {"h": hash_token(token)},
    ).one_or_none()
    return TokenView(*row) if row else None


def account_exists(session: Session, email: str) -> bool:
    return people.email_taken(session, email)


def create_account(
    session: Session, *, user_id: uuid.UUID, email: str, name: str, password_hash: str
) -> None:
    """The invitee's new account, created while ``session`` acts as ``user_id`` (through
    ``people.create_user``). Raises if the email is taken."""
    name = (name or "").strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise InvitationError(f"Enter your name (1–{NAME_MAX} characters).", field="name")
    try:
        with session.begin_nested():
            people.create_user(session, email=email, name=name, password_hash=password_hash)
    except IntegrityError as exc:
        raise InvitationError("An account with this email already exists. Sign in to accept.",
                              status=409) from exc


def accept(
    session: Session, *, token: str, view: TokenView, user_email: str, actor: Actor
) -> Joined:
    """Join the org of ``view`` as the session's user, and audit it in the same transaction.

    The caller binds the session to (that user, ``view.org_id``) first. The gate refuses that
    context until the definer function has inserted the membership; from the next statement
    on it is valid, so the audit row goes in through ordinary RLS and commits with the join.
    """
    context = tenancy.context_of(session)
    if context.org_id != view.org_id or context.user_id is None:
        raise AcceptRefused("not_found")
    row = session.execute(
        text("SELECT outcome, joined_org_id, joined_slug, joined_role"
             " FROM app_accept_invitation(:h)"),
        {"h": hash_token(token)},
    ).one()
    if row.outcome != "accepted":
        raise AcceptRefused(row.outcome)
    record_audit(
        session, org_id=row.joined_org_id, actor=actor, action="invitation.accept",
        target=f"invitation:{view.email}",
        before={"status": "pending", "member": False},
        after={"status": "accepted", "member": True, "role": row.joined_role,
               "user": user_email},
    )
    return Joined(row.joined_org_id, row.joined_slug, row.joined_role)
