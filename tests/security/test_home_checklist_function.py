"""``app_home_checklist()`` (migration 0051) reads three tenant tables past RLS (SECURITY
DEFINER) for the org home's checklist: it must answer for the org the gate admits and for
no other, whatever the caller's context says."""

from __future__ import annotations

from sqlalchemy import text

from dashboard import tenancy
from tests import factories

ALL_DONE = [True, True, True]
NOTHING = [False, False, False]


def set_up_everything(org) -> None:
    factories.execute(
        "INSERT INTO sso_domains (org_id, domain, token, verified_at)"
        " VALUES (:o, :d, repeat('t', 20), now())",
        o=org.id,
        d=f"{org.slug}.example",
    )
    factories.execute("INSERT INTO sso_connections (org_id, kind) VALUES (:o, 'oidc')", o=org.id)
    factories.api_key(org)


def checklist(runtime_sessions, **context) -> list[bool]:
    with tenancy.scoped_session(runtime_sessions, tenancy.TenantContext(**context)) as session:
        return session.scalar(text("SELECT app_home_checklist()"))


def test_it_answers_for_the_admitted_org_only(runtime_sessions):
    done, done_people = factories.org_with_members(owner="owner")
    other, other_people = factories.org_with_members(owner="owner")
    set_up_everything(done)
    owner, outsider = done_people["owner"], other_people["owner"]
    assert checklist(runtime_sessions, user_id=owner.id, org_id=done.id) == ALL_DONE
    assert checklist(runtime_sessions, user_id=outsider.id, org_id=other.id) == NOTHING
    # Naming the org is not enough: the gate refuses a non-member, and the answer is nothing.
    assert checklist(runtime_sessions, user_id=outsider.id, org_id=done.id) == NOTHING
    assert checklist(runtime_sessions) == NOTHING
    assert checklist(runtime_sessions, org_id=done.id) == NOTHING


def test_it_follows_the_gate_when_the_membership_or_the_org_goes(runtime_sessions):
    org, people = factories.org_with_members(owner="owner", bob="member")
    set_up_everything(org)
    bob = people["bob"]
    assert checklist(runtime_sessions, user_id=bob.id, org_id=org.id) == ALL_DONE
    factories.execute(
        "DELETE FROM memberships WHERE org_id = :o AND user_id = :u", o=org.id, u=bob.id
    )
    assert checklist(runtime_sessions, user_id=bob.id, org_id=org.id) == NOTHING
    owner = people["owner"]
    factories.execute("UPDATE organizations SET status = 'suspended' WHERE id = :o", o=org.id)
    assert checklist(runtime_sessions, user_id=owner.id, org_id=org.id) == NOTHING


def test_each_fact_is_its_own(runtime_sessions):
    org, people = factories.org_with_members(owner="owner")
    owner = people["owner"]
    factories.execute(
        "INSERT INTO sso_domains (org_id, domain, token) VALUES (:o, :d, repeat('t', 20))",
        o=org.id,
        d=f"{org.slug}.example",
    )  # not verified: not done
    assert checklist(runtime_sessions, user_id=owner.id, org_id=org.id) == NOTHING
    factories.api_key(org)
    assert checklist(runtime_sessions, user_id=owner.id, org_id=org.id) == [False, False, True]
