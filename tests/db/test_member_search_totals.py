"""A search's total kept per worker by the org's member revision (migration 0056, issue 20).

The search statement counts its matches only when the org's revision is not the one a total
was kept at. These tests plant a wrong total under the current revision to see when the kept
total is used, then make every kind of change that can move a search's total and check the
page counts again; and they plant one org's revision under another org's key.
"""

from __future__ import annotations

import re

import pytest

from dashboard.members import search_totals
from dashboard.members.service import _like
from tests import factories
from tests.helpers import login, next_page_link


@pytest.fixture(autouse=True)
def _nothing_kept():
    search_totals.forget_all()
    yield
    search_totals.forget_all()


def revision(org) -> str | None:
    return factories.execute("SELECT revision::text FROM member_revisions WHERE org_id = :o",
                             o=org.id).scalar()


def total_shown(client, org, **query) -> int:
    html = client.get(f"/o/{org.slug}/members", query_string=query).get_data(as_text=True)
    found = re.search(r"Showing \S+ of (\d+) members", " ".join(html.split()))
    assert found, html[-300:]
    return int(found.group(1))


def plant(org, query: str, total: int, role: str = "", at: str | None = None) -> None:
    search_totals.keep(org.id, _like(query), role, at or revision(org), total)


def test_the_kept_total_serves_until_the_members_change(client):
    org, people = factories.org_with_members(owner="owner", bob="member", eve="guest")
    factories.add_members(org, 13, prefix="tally")
    login(client, people["owner"])
    assert total_shown(client, org, q="tally", per_page=4) == 13  # counted, then kept
    plant(org, "tally", 999)
    assert total_shown(client, org, q="tally", per_page=4) == 999  # the kept total is used
    # the "seen" touch is no change of the list
    factories.execute("UPDATE memberships SET last_active_at = now() WHERE org_id = :o", o=org.id)
    assert total_shown(client, org, q="tally", per_page=4) == 999

    changes = [
        ("a member joins", lambda: factories.add_members(org, 1, prefix="tallyx")),
        ("a member leaves", lambda: factories.execute(
            "DELETE FROM memberships WHERE org_id = :o AND user_id = :u",
            o=org.id, u=people["bob"].id)),
        ("a person is renamed", lambda: factories.execute(
            "UPDATE users SET name = 'Tally Renamed' WHERE id = :u", u=people["eve"].id)),
        ("a person's email changes", lambda: factories.execute(
            "UPDATE users SET email = 'tally-mail@example.org' WHERE id = :u",
            u=people["owner"].id)),
    ]
    for what, change in changes:
        before = revision(org)
        change()
        assert revision(org) != before, what
        plant(org, "tally", 999, at=before)  # kept at the old revision
        truth = factories.execute(
            "SELECT count(*) FROM memberships WHERE org_id = :o AND search_key LIKE '%tally%'",
            o=org.id).scalar()
        assert total_shown(client, org, q="tally", per_page=4) == truth, what
        assert total_shown(client, org, q="tally", per_page=4) == truth, what  # kept now


def test_a_role_change_moves_the_total_of_a_search_by_role(client):
    org, people = factories.org_with_members(owner="owner")
    factories.add_members(org, 6, prefix="roled", role="member")
    login(client, people["owner"])
    assert total_shown(client, org, q="roled", role="member", per_page=2) == 6
    plant(org, "roled", 999, role="member")
    assert total_shown(client, org, q="roled", role="member", per_page=2) == 999
    user = factories.execute("SELECT user_id FROM memberships WHERE org_id = :o"
                             " AND role = 'member' LIMIT 1", o=org.id).scalar()
    factories.execute("UPDATE memberships SET role = 'guest' WHERE org_id = :o AND user_id = :u",
                      o=org.id, u=user)
    assert total_shown(client, org, q="roled", role="member", per_page=2) == 5


def test_another_orgs_revision_is_never_this_orgs(client):
    org, people = factories.org_with_members(owner="owner")
    other, _ = factories.org_with_members(owner="owner")
    factories.add_members(org, 5, prefix="shared")
    factories.add_members(other, 9, prefix="shared")
    login(client, people["owner"])
    plant(org, "shared", 999, at=revision(other))  # this org's key, the other's revision
    assert total_shown(client, org, q="shared", per_page=2) == 5
    # and after/before a cursor (the statement without the page's own row count)
    html = client.get(f"/o/{org.slug}/members?q=shared&per_page=2").get_data(as_text=True)
    plant(org, "shared", 999, at=revision(other))
    after = next_page_link(html)
    html = " ".join(client.get(after).get_data(as_text=True).split())
    assert "of 5 members" in html


def test_a_search_after_a_cursor_uses_the_kept_total(client):
    org, people = factories.org_with_members(owner="owner")
    factories.add_members(org, 7, prefix="paged")
    login(client, people["owner"])
    html = client.get(f"/o/{org.slug}/members?q=paged&per_page=3").get_data(as_text=True)
    plant(org, "paged", 999)
    after = next_page_link(html)
    assert "of 999 members" in " ".join(client.get(after).get_data(as_text=True).split())


def test_every_org_has_a_revision_and_a_new_member_gives_one():
    org, _ = factories.org_with_members(owner="owner")
    assert revision(org) is not None
