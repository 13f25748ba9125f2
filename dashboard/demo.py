"""Demo data for `make run`, written through the runtime role and the RLS gate (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from dashboard import tenancy
from dashboard.auth import service as auth_service
from dashboard.auth.passwords import Passwords
from dashboard.models import Membership, User

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

LOGINS = [
    ("alex@example.com", "owner of Acme, admin of Globex, member of Initech"),
    ("blake@example.com", "admin of Acme"),
    ("casey@example.com", "guest in Globex"),
]


def seed(factory, passwords: Passwords) -> None:
    password_hash = passwords.hash(DEMO_PASSWORD)
    users: dict[str, User] = {}
    with tenancy.scoped_session(factory, tenancy.NOBODY) as session:
        for email, name in PEOPLE.items():
            user = auth_service.find_user_by_email(session, email)
            if user is None:
                user = User(email=email, name=name, password_hash=password_hash)
                session.add(user)
                session.flush()
            users[email] = user
    for org in ORGS:
        owner_email = next(iter(org.members))
        owner = users[owner_email]
        with tenancy.scoped_session(factory, tenancy.TenantContext(user_id=owner.id)) as session:
            existing = {o.slug: o for o in auth_service.user_orgs(session)}
            org_id = existing[org.slug].org_id if org.slug in existing else None
            if org_id is None:
                org_id = session.scalar(
                    text("SELECT app_create_org(:n, :s)"), {"n": org.name, "s": org.slug}
                )
        context = tenancy.TenantContext(user_id=owner.id, org_id=org_id)
        with tenancy.scoped_session(factory, context) as session:
            _add_members(session, org_id, {users[e].id: r for e, r in org.members.items()})


def _add_members(session: Session, org_id, roles: dict) -> None:
    present = set(session.scalars(select(Membership.user_id)))
    for user_id, role in roles.items():
        if user_id not in present:
            session.add(Membership(org_id=org_id, user_id=user_id, role=role))
