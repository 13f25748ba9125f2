"""Demo data for `make run`, written through the runtime role and the RLS gate (idempotent)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from dashboard import tenancy
from dashboard.auth import service as auth_service
from dashboard.auth.passwords import Passwords
from dashboard.models import Membership
from dashboard.usage import quotas
from dashboard.usage import service as usage

DEMO_PASSWORD = "tenantdesk-demo"  # noqa: S105 - published demo credential


@dataclass(frozen=True)
class DemoOrg:
    slug: str
    name: str
    members: dict[str, str]  # email -> role; the first one creates the org (owner)


PEOPLE = {
    "alex@example.com": "Alex Morgan",
    "blake@example.com": "Blake Chen",
    "casey@example.com": "Casey Diaz",
    "dana@example.com": "Dana Okafor",
    "eli@example.com": "Eli Novak",
    "fran@example.com": "Fran Ito",
    "gus@example.com": "Gus Lindqvist",
    "hana@example.com": "Hana Kowalski",
    "ivan@example.com": "Ivan Petrov",
}

ORGS = [
    DemoOrg("acme", "Acme", {"alex@example.com": "owner", "blake@example.com": "admin",
                             "dana@example.com": "member", "eli@example.com": "member"}),
    DemoOrg("globex", "Globex", {"gus@example.com": "owner", "alex@example.com": "admin",
                                 "casey@example.com": "guest", "fran@example.com": "member"}),
    DemoOrg("initech", "Initech", {"hana@example.com": "owner", "alex@example.com": "member",
                                   "ivan@example.com": "member"}),
]

# Pending invitations per demo org (email -> role); Initech's free plan has no seat left.
INVITATIONS = {
    "acme": {"jordan@example.com": "member", "kim@example.com": "admin"},
    "globex": {"lee@example.com": "guest"},
}

LOGINS = [
    ("alex@example.com", "owner of Acme, admin of Globex, member of Initech"),
    ("blake@example.com", "admin of Acme"),
    ("casey@example.com", "guest in Globex"),
    ("sam@example.com", "Tenantdesk staff (lands in the staff console, /admin/)"),
]

# Tenantdesk's own support person: staff, member of no org. Sets the demo plans below through
# the same audited staff path as the admin page, so each org's audit log shows who did it.
STAFF = ("sam@example.com", "Sam Rivera")
PLANS = {"acme": "growth", "globex": "starter", "initech": "free"}


def seed(factory, passwords: Passwords, owner_url: str) -> None:
    """``owner_url`` (the migration role) creates the demo people and marks the staff user:
    the app's own role can do neither (``app_operator_*`` functions, migration 0011)."""
    from sqlalchemy import create_engine

    password_hash = passwords.hash(DEMO_PASSWORD)
    users: dict[str, uuid.UUID] = {}
    engine = create_engine(owner_url)
    with engine.begin() as conn:
        for email, name in [*PEOPLE.items(), STAFF]:
            users[email] = conn.scalar(
                text("SELECT app_operator_user(:e, :n, :h)"),
                {"e": email, "n": name, "h": password_hash},
            )
        conn.execute(text("SELECT app_operator_set_staff(:e, true)"), {"e": STAFF[0]})
    engine.dispose()
    usage_targets = {}
    org_ids: dict[str, object] = {}
    for org in ORGS:
        owner_email = next(iter(org.members))
        owner_id = users[owner_email]
        with tenancy.scoped_session(factory, tenancy.TenantContext(user_id=owner_id)) as session:
            existing = {o.slug: o for o in auth_service.user_orgs(session)}
            org_id = existing[org.slug].org_id if org.slug in existing else None
            if org_id is None:
                org_id = session.scalar(
                    text("SELECT app_create_org(:n, :s)"), {"n": org.name, "s": org.slug}
                )
        context = tenancy.TenantContext(user_id=owner_id, org_id=org_id)
        with tenancy.scoped_session(factory, context) as session:
            _add_members(session, org_id, {users[e]: r for e, r in org.members.items()})
            _add_invitations(session, org_id, owner_id, INVITATIONS.get(org.slug, {}))
        usage_targets[org.slug] = (owner_id, org_id, len(org.members))
        org_ids[org.slug] = org_id
    _set_plans(factory, users[STAFF[0]], org_ids)
    seed_usage(factory, usage_targets)


def _set_plans(factory, staff_id: uuid.UUID, org_ids: dict) -> None:
    from dashboard.audit.service import Actor
    from dashboard.licenses import service as licenses

    with tenancy.scoped_session(factory, tenancy.TenantContext(user_id=staff_id)) as session:
        for slug, plan in PLANS.items():
            view = licenses.staff_view(session, org_ids[slug])
            if view.license.plan != plan:
                licenses.change_plan(session, org_ids[slug], plan=plan, reason="demo data",
                                     actor=Actor(label="demo seed"))


def _add_invitations(session: Session, org_id, owner_id, invited: dict[str, str]) -> None:
    """Pending invitations (once per address). Their links were never mailed: "Resend" on the
    Invitations page sends a fresh one, readable at /dev/mail in the demo."""
    from dashboard.members.invitations import new_token
    from dashboard.models import Invitation

    pending = {e.lower() for e in session.scalars(
        select(Invitation.email).where(Invitation.status == "pending"))}
    for email, role in invited.items():
        if email not in pending:
            session.add(Invitation(
                org_id=org_id, email=email, role=role, token_hash=new_token()[1],
                invited_by=owner_id, expires_at=datetime.now(UTC) + timedelta(days=7),
            ))


def _add_members(session: Session, org_id, roles: dict) -> None:
    present = set(session.scalars(select(Membership.user_id)))
    for user_id, role in roles.items():
        if user_id not in present:
            session.add(Membership(org_id=org_id, user_id=user_id, role=role))


# ------------------------------------------------------------------------------ usage
USAGE_DAYS = 90
# The share of its plan's quotas each demo org uses (flows by the end of a month, levels
# today): Acme sits past the 80 % warning, the others well below.
USAGE_SHARE = {"acme": 0.85, "globex": 0.5, "initech": 0.3}
# What an org on an unlimited plan uses: API calls a weekday, storage in bytes.
UNLIMITED_CALLS, UNLIMITED_STORAGE = 2_000, 50 * 1000**3


def seed_usage(factory, org_ids: dict[str, tuple], today=None) -> None:
    """90 days of usage per demo org, under each org's RLS context, through record_batch.

    Idempotent: every event's key names its metric and day, so running the seed again adds
    only the days not seeded yet.
    """
    now = datetime.now(UTC)
    today = today or now.date()
    for slug, (owner_id, org_id, members) in org_ids.items():
        share = USAGE_SHARE.get(slug, 0.5)
        context = tenancy.TenantContext(user_id=owner_id, org_id=org_id)
        with tenancy.scoped_session(factory, context) as session:
            limits = {m: q.limit for m, q in quotas.plan_quotas(session).items()}
            calls = share * limits["api_calls"] / 26 if "api_calls" in limits else UNLIMITED_CALLS
            actives = min(members, int(share * limits.get("active_users", members)) or 1)
            storage = share * limits.get("storage_bytes", UNLIMITED_STORAGE)
            events = []
            for back in range(USAGE_DAYS - 1, -1, -1):
                day = today - timedelta(days=back)
                at = min(datetime.combine(day, time(12), UTC), now)
                rng = random.Random(f"{slug}:{day.isoformat()}")  # noqa: S311 - demo figures
                weekend = day.weekday() >= 5
                figures = {
                    "api_calls": int(calls * (0.3 if weekend else 1) * rng.uniform(0.8, 1.2)),
                    "active_users": max(1, actives - rng.randint(0, 1 if weekend else 0)),
                    "seats": members,
                    "storage_bytes": int(storage * (0.6 + 0.4 * (USAGE_DAYS - back) / USAGE_DAYS)
                                         * rng.uniform(0.97, 1.0)),
                }
                events += [
                    usage.EventIn(metric, quantity, at, f"demo:{metric}:{day.isoformat()}")
                    for metric, quantity in figures.items()
                ]
            # History, not live traffic: a backfill is not refused by a quota.
            usage.record_batch(session, org_id, events, enforce_quotas=False)
