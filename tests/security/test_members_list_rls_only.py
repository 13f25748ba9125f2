"""The members list has no org filter of its own (issue 20): RLS is its only org filter.

``list_members`` / ``roles_and_members`` (dashboard/members/service.py) read ``memberships``
and ``member_counts`` with no ``WHERE org_id = ...``: each table's policy is the filter. These
tests call them as the runtime role with no org context, with another org's id passed, with
a search, and with keyset cursors cut from another org's page (the two orgs' people have the
same names, so B's cursor is a real position inside A's order too). Each must show A's rows
and A's total only, or nothing; never B's people, never B's total. The HTTP test runs with A
on every tier (shared, a tenant schema, a dedicated database).
"""

from __future__ import annotations

import pytest

from dashboard import tenancy
from dashboard.licenses.service import OrgNotVisible
from dashboard.members import service
from dashboard.members.roles import Editor, RoleInfo
from dashboard.permissions import permissions_for
from tests import factories, tiers
from tests.helpers import login

A_BULK, B_BULK = 30, 70  # different sizes: a total from the wrong org shows


def _member_ids(org) -> set[str]:
    rows = factories.execute("SELECT user_id FROM memberships WHERE org_id = :o", o=org.id)
    return {str(r.user_id) for r in rows}


@pytest.fixture(scope="module")
def orgs():
    """A (owner + 30) and B (owner + 70), the bulk people named alike in both orgs."""
    org_a, people_a = factories.org_with_members(owner="owner")
    org_b, people_b = factories.org_with_members(owner="owner")
    factories.add_members(org_a, A_BULK, prefix="twin")
    factories.add_members(org_b, B_BULK, prefix="twin")
    return (org_a, people_a["owner"], _member_ids(org_a)), (
        org_b,
        people_b["owner"],
        _member_ids(org_b),
    )


def owner_editor(user) -> Editor:
    return Editor(user_id=user.id, role="owner", permissions=permissions_for("owner"))


def acting(runtime_sessions, user, org):
    return tenancy.scoped_session(
        runtime_sessions,
        tenancy.TenantContext(user_id=getattr(user, "id", None), org_id=getattr(org, "id", None)),
    )


def read_page(session, reader: str, *, org_id, editor, **ask):
    """One page through either entry point. ``org_id`` is what a caller believes the org
    is: the readers take no org of their own (the session's context is the only one), so
    it reaches them nowhere and must change nothing."""
    del org_id
    wanted = service.PageWanted(**ask)
    if reader == "roles_and_members":
        return service.roles_and_members(session, editor=editor, wanted=wanted)[1]
    roles = {
        key: RoleInfo(key, key, permissions_for(key), True)
        for key in ("owner", "admin", "member", "guest")
    }
    return service.list_members(session, editor=editor, roles=roles, wanted=wanted)


READERS = ["list_members", "roles_and_members"]


def all_pages(session, reader, *, org_id, editor, query="") -> tuple[set[str], set[int]]:
    """Every member id and every total the pages show, following next cursors."""
    seen, totals, after = set(), set(), ""
    for _ in range(20):
        page = read_page(
            session, reader, org_id=org_id, editor=editor, query=query, per_page=25, after=after
        )
        seen |= {str(row.user_id) for row in page.rows}
        totals.add(page.total)
        if not page.next_cursor:
            return seen, totals
        after = page.next_cursor
    raise AssertionError("the pages never ended")


@pytest.mark.parametrize("reader", READERS)
def test_a_owner_sees_exactly_a_whole_list_and_a_search(runtime_sessions, orgs, reader):
    (org_a, owner_a, ids_a), _ = orgs
    with acting(runtime_sessions, owner_a, org_a) as session:
        for query in ("", "twin"):
            seen, totals = all_pages(
                session, reader, org_id=org_a.id, editor=owner_editor(owner_a), query=query
            )
            expected = ids_a if not query else ids_a - {str(owner_a.id)}
            assert seen == expected, query
            assert totals == {len(expected)}, query


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("context", ["nobody", "user-only", "b-without-membership"])
def test_no_usable_org_context_lists_nobody(runtime_sessions, orgs, reader, context):
    """Guard: memberships' and member_counts' policies (the gate answers NULL)."""
    (org_a, owner_a, _), (org_b, _, _) = orgs
    user, org = {
        "nobody": (None, None),
        "user-only": (owner_a, None),
        "b-without-membership": (owner_a, org_b),
    }[context]
    with acting(runtime_sessions, user, org) as session:
        for query in ("", "twin"):
            try:
                page = read_page(
                    session, reader, org_id=org_b.id, editor=owner_editor(owner_a), query=query
                )
            except OrgNotVisible:  # roles_and_members refuses a context without an org
                assert reader == "roles_and_members" and org is None
                continue
            assert (page.rows, page.total) == ([], 0), query


@pytest.mark.parametrize("reader", READERS)
def test_bs_id_passed_in_as_context_shows_only_a(runtime_sessions, orgs, reader):
    (org_a, owner_a, ids_a), (org_b, _, ids_b) = orgs
    with acting(runtime_sessions, owner_a, org_a) as session:
        for query in ("", "twin"):
            seen, totals = all_pages(
                session, reader, org_id=org_b.id, editor=owner_editor(owner_a), query=query
            )
            assert seen and seen <= ids_a and not seen & ids_b, query
            assert max(totals) <= len(ids_a), query  # never B's 71


@pytest.mark.parametrize("reader", READERS)
def test_cursors_cut_from_bs_pages_read_only_a(runtime_sessions, orgs, reader):
    """Keyset cursors name (sort_name, user_id): B's are positions in A's order too, since the
    people are named alike. Used in A, after or before, they must page through A alone."""
    (org_a, owner_a, ids_a), (org_b, owner_b, ids_b) = orgs
    cursors = []
    with acting(runtime_sessions, owner_b, org_b) as session:
        after = ""
        for _ in range(3):
            page = read_page(
                session,
                reader,
                org_id=org_b.id,
                editor=owner_editor(owner_b),
                per_page=20,
                after=after,
            )
            cursors += [c for c in (page.next_cursor, page.prev_cursor) if c]
            after = page.next_cursor
    assert len(cursors) >= 4
    with acting(runtime_sessions, owner_a, org_a) as session:
        for cursor in cursors:
            for query in ("", "twin"):
                for direction in ("after", "before"):
                    page = read_page(
                        session,
                        reader,
                        org_id=org_a.id,
                        editor=owner_editor(owner_a),
                        query=query,
                        per_page=100,
                        **{direction: cursor},
                    )
                    seen = {str(row.user_id) for row in page.rows}
                    assert seen <= ids_a and not seen & ids_b, (cursor, query, direction)
                    assert page.total <= len(ids_a), (cursor, query, direction)


@pytest.fixture(scope="module", params=["shared", "schema", "dedicated"])
def a_on_tier(request, database_urls, orgs):
    """The orgs above with A on each tier in turn (B stays shared), moved back after."""
    (org_a, *_), _ = orgs
    with tiers.on_tier(database_urls, org_a, request.param) as tier:
        yield tier


def test_the_members_page_in_a_never_shows_b_on_any_tier(client, orgs, a_on_tier):
    (org_a, owner_a, ids_a), (org_b, owner_b, ids_b) = orgs
    login(client, owner_b)
    b_page = client.get(f"/o/{org_b.slug}/members?per_page=20").get_data(as_text=True)
    b_cursors = set(service_cursors(b_page))
    assert b_cursors, "B's page has no cursor to steal"
    b_emails = {
        r.email
        for r in factories.execute(
            "SELECT u.email FROM users u JOIN memberships m ON m.user_id = u.id"
            " WHERE m.org_id = :o",
            o=org_b.id,
        )
    }
    login(client, owner_a)
    paths = [
        f"/o/{org_a.slug}/members?{d}={c}&q={q}"
        for c in b_cursors
        for d in ("after", "before")
        for q in ("", "twin")
    ]
    paths += [f"/o/{org_a.slug}/members?q=twin", f"/o/{org_a.slug}/members"]
    for path in paths:
        answer = client.get(path)
        body = answer.get_data(as_text=True)
        assert answer.status_code == 200, (a_on_tier, path)
        leaked = [e for e in b_emails if e in body] + [i for i in ids_b if i in body]
        assert not leaked, (a_on_tier, path, leaked[:3])
    # The page's total is A's (31): B's 71 nowhere in the counts.
    whole = client.get(f"/o/{org_a.slug}/members").get_data(as_text=True)
    assert f"of {A_BULK + 1} members" in " ".join(whole.split())
    assert f"of {B_BULK + 1} members" not in " ".join(whole.split())


def service_cursors(html: str) -> list[str]:
    import re

    return re.findall(r"[?&;](?:after|before)=([A-Za-z0-9_-]+)", html)
