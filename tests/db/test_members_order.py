"""The members list's order, pages and totals come from the org's own rows (issue 20).

``memberships.sort_name``/``search_key`` are copies of the person's name and email kept by
triggers, ``member_counts`` the totals kept by another; the list pages by keyset. These tests
prove the copies follow every change and the pages chain without gaps or repeats; the
100,000-member org is in tests/db/test_queries_per_page.py.
"""

from __future__ import annotations

import re

import pytest

from dashboard.licenses import service as licenses
from dashboard.members import roles as role_rules
from tests import factories
from tests.helpers import login, post


def text(html: str) -> str:
    return " ".join(html.split())


def rows_of(html: str) -> list[str]:
    return re.findall(r'<tr id="member-([0-9a-f-]+)" data-testid="member-row">', html)


def link(html: str, rel: str) -> str | None:
    found = re.search(rf'href="([^"]+)"[^>]*rel="{rel}"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def counts(org) -> dict[str, int]:
    return dict(factories.execute(
        "SELECT role, members FROM member_counts WHERE org_id = :o AND members > 0", o=org.id
    ).all())


def truth(org) -> dict[str, int]:
    return dict(factories.execute(
        "SELECT role, count(*) FROM memberships WHERE org_id = :o GROUP BY role", o=org.id
    ).all())


def test_keys_and_counts_follow_every_change(client):
    org, people = factories.org_with_members(owner="owner", bob="member", eve="guest")
    factories.add_members(org, 7, prefix="keyed")
    assert counts(org) == truth(org) == {"owner": 1, "member": 8, "guest": 1}

    bob = people["bob"]
    factories.execute("UPDATE users SET name = 'Zzz Renamed', email = 'zz@example.org'"
                      " WHERE id = :u", u=bob.id)
    keys = factories.execute("SELECT sort_name, search_key, person_name, person_email"
                             " FROM memberships WHERE org_id = :o AND user_id = :u",
                             o=org.id, u=bob.id).one()
    assert keys == ("zzz renamed", "zzz renamed\nzz@example.org", "Zzz Renamed", "zz@example.org")

    factories.execute("UPDATE memberships SET role = 'admin' WHERE org_id = :o AND user_id = :u",
                      o=org.id, u=people["eve"].id)
    factories.execute("DELETE FROM memberships WHERE org_id = :o AND user_id = :u",
                      o=org.id, u=bob.id)
    # A writer cannot put its own keys in: they always come from users.
    factories.execute("UPDATE memberships SET sort_name = 'aaa', person_name = 'Forged',"
                      " person_email = 'forged@example.org' WHERE org_id = :o", o=org.id)
    assert counts(org) == truth(org) == {"owner": 1, "member": 7, "admin": 1}
    assert factories.execute("SELECT count(*) FROM memberships WHERE org_id = :o"
                             " AND (sort_name = 'aaa' OR person_name = 'Forged'"
                             " OR person_email LIKE 'forged%')", o=org.id).scalar() == 0
    for column in ("sort_name", "search_key", "person_name", "person_email"):  # one at a time
        factories.execute(f"UPDATE memberships SET {column} = 'forged', last_active_at = now()"
                          " WHERE org_id = :o", o=org.id)
        assert factories.execute(f"SELECT count(*) FROM memberships WHERE {column} = 'forged'"
                                 ).scalar() == 0, column
    # Every membership shows its person as users holds them, in every org.
    assert factories.execute(
        "SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.person_name IS DISTINCT FROM u.name OR m.person_email IS DISTINCT FROM u.email"
    ).scalar() == 0

    login(client, people["owner"])
    html = client.get(f"/o/{org.slug}/members").get_data(as_text=True)
    assert "of 9 members" in text(html)
    assert client.get(f"/o/{org.slug}/").get_data(as_text=True).count(
        'data-testid="member-count">9<') == 1


def test_pages_chain_by_keyset_forwards_and_back(client):
    org, people = factories.org_with_members(owner="owner")
    factories.add_members(org, 11, prefix="chain")
    # Two people with the same name: the user id breaks the tie, nobody is lost or repeated.
    factories.add_members(org, 2, prefix="twin")
    factories.execute("UPDATE users SET name = 'Chain 00003' WHERE email LIKE 'twin%' AND"
                      " id IN (SELECT user_id FROM memberships WHERE org_id = :o)", o=org.id)
    login(client, people["owner"])
    expected = [str(u) for u in factories.execute(
        "SELECT m.user_id FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.org_id = :o ORDER BY lower(u.name), m.user_id", o=org.id).scalars()]

    seen, pages, url = [], [], f"/o/{org.slug}/members?per_page=4"
    while url:
        html = client.get(url).get_data(as_text=True)
        pages.append(html)
        seen += rows_of(html)
        url = link(html, "next")
    assert seen == expected and len(pages) == 4
    assert "Showing 13–14 of 14 members" in text(pages[-1]) and "Page 4 of 4" in pages[-1]

    back = []
    url = link(pages[-1], "prev")
    while url:
        html = client.get(url).get_data(as_text=True)
        back = rows_of(html) + back
        url = link(html, "prev")
    assert back == expected[:12]
    assert "Showing 1–4 of 14" in text(html) and 'rel="prev"' not in html


@pytest.mark.parametrize("cursor", ["garbage", "eyJhIjoxfQ", "WyJ4Iiwibm90LWEtdXVpZCIsMF0",
                                    "x" * 3000])
def test_a_bad_cursor_starts_over_instead_of_failing(client, cursor):
    org, people = factories.org_with_members(owner="owner", bob="member")
    login(client, people["owner"])
    for arg in ("after", "before"):
        response = client.get(f"/o/{org.slug}/members?{arg}={cursor}")
        assert response.status_code == 200
        assert len(rows_of(response.get_data(as_text=True))) == 2


def test_search_reads_names_and_emails_of_this_org_only(client):
    org, people = factories.org_with_members(owner="owner")
    other, _ = factories.org_with_members(owner="owner")
    factories.add_members(org, 3, prefix="findme")
    factories.add_members(other, 3, prefix="findme")
    login(client, people["owner"])
    html = client.get(f"/o/{org.slug}/members?q=FINDME").get_data(as_text=True)
    assert len(rows_of(html)) == 3 and "of 3 members" in text(html)
    html = client.get(f"/o/{org.slug}/members?q={org.id}@EXAMPLE").get_data(as_text=True)
    assert len(rows_of(html)) == 3  # the email part of the key
    # A newline cannot reach across name and email: the input guard refuses it outright.
    assert client.get(f"/o/{org.slug}/members?q=findme%0Aowner").status_code == 400


@pytest.mark.parametrize(("query", "found"), [
    ("%", ["Percent 100% Real"]), ("0% r", ["Percent 100% Real"]),
    ("_", ["Snake snake_case"]), ("e_c", ["Snake snake_case"]),
    ("\\", ["Slash back\\slash"]), ("k\\s", ["Slash back\\slash"]),
    ("\\%", []), ("%_", []),
])
def test_search_takes_like_wildcards_and_backslash_literally(client, query, found):
    """The pattern's escapes rely on LIKE's default escape character (no ESCAPE clause)."""
    org, people = factories.org_with_members(owner="owner")
    for name in ("Percent 100% Real", "Percent 1000 Real", "Snake snake_case", "Snake snakeXcase",
                 "Slash back\\slash", "Slash backslash"):
        user = factories.UserFactory(name=name)
        factories.MembershipFactory(org_id=org.id, user_id=user.id, role="member")
    login(client, people["owner"])
    html = client.get(f"/o/{org.slug}/members", query_string={"q": query}).get_data(as_text=True)
    shown = re.findall(r'<td><a href="[^"]+">([^<]+)</a>', html)
    assert shown == found


def test_the_page_shows_each_person_as_their_own_profile_says(client, app):
    """The list reads the person's name and email from the membership (migration 0040): a
    renamed person shows renamed in every org they belong to, on the very next page."""
    org, people = factories.org_with_members(owner="owner", bob="member")
    other, others = factories.org_with_members(owner="owner")
    factories.MembershipFactory(org_id=other.id, user_id=people["bob"].id, role="member")

    bob = app.test_client()
    login(bob, people["bob"])
    assert post(bob, "/account/name", {"name": "Bob Renamed-Everywhere"}).status_code == 303
    for where, owner in ((org, people["owner"]), (other, others["owner"])):
        login(client, owner)
        html = client.get(f"/o/{where.slug}/members").get_data(as_text=True)
        assert "Bob Renamed-Everywhere" in html and people["bob"].email in html
        found = client.get(f"/o/{where.slug}/members?q=renamed-every").get_data(as_text=True)
        assert rows_of(found) == [str(people["bob"].id)]


def test_the_roles_and_entitlements_width_is_the_statements_column_count(client):
    """The members page's UNION pads its members' rows with as many NULLs as the roles'
    row has columns: the width counted from the SQL text is what PostgreSQL returns."""
    org, _ = factories.org_with_members(owner="owner")
    result = factories.execute(f"SELECT {role_rules.CATALOGUE_AND_ENTITLEMENTS}",
                               org=org.id, **licenses.entitlements_params())
    assert len(result.keys()) == role_rules.CATALOGUE_AND_ENTITLEMENTS_WIDTH
    assert result.one().custom_roles == []


def test_the_page_reads_roles_and_members_together_and_filters_by_any_role(client):
    """Issue 20, session 8: the page's roles (with the entitlements) and its members come in
    one statement; a filter by a custom role takes the roles first (two statements) and
    lists that role's holders, named as the org names the role."""
    org, people = factories.org_with_members(owner="owner")
    factories.execute(
        "INSERT INTO roles (org_id, key, name, permissions)"
        " VALUES (:o, 'auditor', 'Auditor Role', ARRAY['members.view'])", o=org.id
    )
    factories.add_members(org, 2, prefix="aud", role="auditor")
    factories.add_members(org, 3, prefix="gst", role="guest")
    login(client, people["owner"])
    everyone = text(client.get(f"/o/{org.slug}/members").get_data(as_text=True))
    assert "of 6 members" in everyone and "Auditor Role" in everyone
    for role, expected in (("auditor", 2), ("guest", 3), ("no-such-role", 6)):
        html = client.get(f"/o/{org.slug}/members?role={role}").get_data(as_text=True)
        assert len(rows_of(html)) == expected, role
        assert f"of {expected} members" in text(html), role


def test_search_totals_with_and_without_the_count(client):
    """A search's total: counted when the page is full, the page's own rows (plus the offset)
    when it is not (the statement skips the count then). Both must say the same."""
    org, people = factories.org_with_members(owner="owner")
    factories.add_members(org, 13, prefix="tally")
    factories.add_members(org, 3, prefix="other")
    login(client, people["owner"])

    def shown(**query) -> tuple[int, str]:
        html = client.get(f"/o/{org.slug}/members", query_string=query).get_data(as_text=True)
        found = re.search(r"Showing (\S+) of (\d+) members", text(html))
        return len(rows_of(html)), found.group(0) if found else text(html)[-200:]

    assert shown(q="tally", per_page=4) == (4, "Showing 1–4 of 13 members")  # counted
    assert shown(q="tally", per_page=20) == (13, "Showing 1–13 of 13 members")  # not full
    assert shown(q="tally", per_page=4, page=2) == (4, "Showing 5–8 of 13 members")
    assert shown(q="tally", per_page=4, page=4) == (1, "Showing 13–13 of 13 members")
    assert shown(q="tally", per_page=5, page=3) == (3, "Showing 11–13 of 13 members")
    assert shown(q="other", per_page=3)[1] == "Showing 1–3 of 3 members"  # exactly full
    assert shown(q="nobody-at-all", per_page=4)[0] == 0
    html = client.get(f"/o/{org.slug}/members?q=tally&per_page=4").get_data(as_text=True)
    html = client.get(link(html, "next")).get_data(as_text=True)  # after a cursor: counted
    assert "Showing 5–8 of 13 members" in text(html)
