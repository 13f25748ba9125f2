"""The per-process caches added for speed (issue 20) never serve one tenant's or person's
value to another, in one worker (one app object, two people in two orgs, taking turns).

- the side navigation kept by ``dashboard/layout.py`` (``_kept_piece``): keyed on the URL
  binding, the org's slug, the endpoint, the viewer's permissions and the plan's locked
  features. Each page's navigation must be exactly what a cold cache builds for that viewer;
- the signed CSRF tokens kept by ``dashboard/security.py`` (``csrf_token``): keyed on the
  session's raw token. Each person's token works only in their own session;
- the usage reports kept by ``dashboard/usage/cache.py`` (``RevisionCache``): keyed on the
  org, served only when the revision read under RLS matches (tests/security/
  test_usage_cache.py attacks it through the service; here, both orgs through HTTP).
"""

from __future__ import annotations

import re

import pytest

from dashboard import layout
from dashboard.usage.cache import REPORTS
from tests import factories
from tests.helpers import csrf_token, login
from tests.security.test_usage_cache import ingest

NAV = re.compile(r'<nav class="sidenav".*?</nav>', re.S)


@pytest.fixture
def two_orgs():
    """A on enterprise, its owner and a member; B on the default plan, a member."""
    org_a, people_a = factories.org_with_members(owner="owner", member="member")
    org_b, people_b = factories.org_with_members(member="member")
    factories.put_on_plan(org_a, "enterprise")
    return (
        org_a,
        org_b,
        {
            "a_owner": people_a["owner"],
            "a_member": people_a["member"],
            "b_member": people_b["member"],
        },
    )


def nav_of(client, path) -> str:
    answer = client.get(path)
    assert answer.status_code == 200, path
    found = NAV.search(answer.get_data(as_text=True))
    assert found, path
    return found.group(0)


def test_the_kept_navigation_is_always_the_viewers_own(app, two_orgs):
    org_a, org_b, people = two_orgs
    viewers = [("a_owner", org_a), ("a_member", org_a), ("b_member", org_b)]
    clients = {}
    for label, _ in viewers:
        clients[label] = app.test_client()
        login(clients[label], people[label])
    pages = ["", "members", "usage"]

    def navs() -> dict:
        return {
            (label, page): nav_of(clients[label], f"/o/{org.slug}/{page}")
            for label, org in viewers
            for page in pages
        }

    layout._kept.clear()
    warm = navs()  # each viewer in turn, the cache filled by whoever came first
    again = navs()  # all served from the cache now
    cold = {}
    for key in warm:  # each built alone, from an empty cache
        layout._kept.clear()
        label, page = key
        org = dict(viewers)[label]
        cold[key] = nav_of(clients[label], f"/o/{org.slug}/{page}")
    assert warm == cold and again == cold
    for (label, _), nav in cold.items():
        other = org_b if label.startswith("a_") else org_a
        assert f"/o/{other.slug}/" not in nav, label
    # The viewers really differ, so a nav served to the wrong one would show.
    assert cold[("a_owner", "members")] != cold[("a_member", "members")]
    assert cold[("a_owner", "members")] != cold[("b_member", "members")]


def test_a_kept_csrf_token_works_only_in_its_own_session(app, two_orgs):
    org_a, org_b, people = two_orgs
    alice, bob = app.test_client(), app.test_client()
    login(alice, people["a_owner"])
    login(bob, people["b_member"])
    for client in (alice, bob):  # the first page after sign-in makes the raw token
        csrf_token(client, "/switcher")
    alice_token = csrf_token(alice, "/switcher")
    bob_token = csrf_token(bob, "/switcher")
    assert csrf_token(alice, "/switcher") == alice_token  # kept, served again
    assert alice_token != bob_token
    # Each one's token in the other's session: refused (Flask-WTF compares it with the
    # session's raw token), and nothing is created.
    for client, token in ((bob, alice_token), (alice, bob_token)):
        slug = factories.unique("csrf")
        answer = client.post("/orgs/new", data={"csrf_token": token, "name": slug, "slug": slug})
        assert answer.status_code == 400, answer.status_code
        assert (
            factories.execute(
                "SELECT count(*) FROM organizations WHERE slug = :s", s=slug
            ).scalar_one()
            == 0
        )
    # The control: each one's own token is accepted.
    slug = factories.unique("csrf")
    assert alice.post(
        "/orgs/new", data={"csrf_token": alice_token, "name": slug, "slug": slug}
    ).status_code in (302, 303)


def test_a_verified_csrf_token_is_still_refused_in_another_session(app, two_orgs):
    """``dashboard/security.py`` remembers a signed token Flask-WTF verified, with the raw
    token it carried: once Alice's token is remembered, it still works only in her session,
    and a token differing from it by one character is verified (and refused) afresh."""
    _, _, people = two_orgs
    alice, bob = app.test_client(), app.test_client()
    login(alice, people["a_owner"])
    login(bob, people["b_member"])
    alice_token = csrf_token(alice, "/switcher")
    for _ in range(2):  # verified, then remembered: accepted both times
        answer = alice.post("/switch", data={"csrf_token": alice_token, "slug": "no-such-org"})
        assert answer.status_code == 404, answer.status_code  # past CSRF, not a member there
    other = "y" if alice_token[0] == "x" else "x"  # the payload's first character changed
    for client, token in ((bob, alice_token), (alice, other + alice_token[1:]), (alice, "")):
        slug = factories.unique("csrf")
        answer = client.post("/orgs/new", data={"csrf_token": token, "name": slug, "slug": slug})
        assert answer.status_code == 400, answer.status_code
        assert factories.execute(
            "SELECT count(*) FROM organizations WHERE slug = :s", s=slug).scalar_one() == 0


def test_a_new_person_in_the_same_browser_never_gets_the_last_ones_token(app, two_orgs):
    """Sign-out and sign-in start a fresh raw token: the signed token kept for the last
    person's raw token is not served to the next, and the last one's token is refused."""
    _, org_b, people = two_orgs
    browser = app.test_client()
    login(browser, people["a_owner"])
    csrf_token(browser, "/switcher")
    first = csrf_token(browser, "/switcher")
    assert csrf_token(browser, "/switcher") == first  # kept
    assert browser.post("/logout", data={"csrf_token": first}).status_code in (302, 303)
    login(browser, people["b_member"])
    csrf_token(browser, "/switcher")
    second = csrf_token(browser, "/switcher")
    assert second != first
    answer = browser.post("/logout", data={"csrf_token": first})
    assert answer.status_code == 400  # the previous person's token: refused
    assert csrf_token(browser, "/switcher") == second  # still signed in with the new one


def test_kept_usage_reports_stay_with_their_org(app, runtime_sessions, two_orgs):
    org_a, org_b, people = two_orgs
    # Through the ingest statement: it raises the revision a report is kept under.
    ingest(runtime_sessions, org_a, people["a_owner"], 424242, "a-1")
    ingest(runtime_sessions, org_b, people["b_member"], 313131, "b-1")
    alice, bob = app.test_client(), app.test_client()
    login(alice, people["a_owner"])
    login(bob, people["b_member"])
    REPORTS.clear()
    for _ in range(2):  # the second round is served from the cache
        for client, org, mine, theirs in (
            (alice, org_a, "424242", "313131"),
            (bob, org_b, "313131", "424242"),
        ):
            for path in ("usage?range=30", "usage/data.json?range=30"):
                body = client.get(f"/o/{org.slug}/{path}").get_data(as_text=True)
                digits = body.replace(",", "")
                assert mine in digits and theirs not in digits, (org.slug, path)
    assert len(REPORTS) >= 2


CHECKLIST = re.compile(
    r'<section class="card" aria-labelledby="getting-started-heading".*?</section>', re.S
)


def test_the_kept_home_checklist_is_always_the_orgs_own(app):
    """``orgs/page.py`` keeps the home's checklist by its steps' state and the URL key: two
    owners of orgs in different states, taking turns, each see what a cold cache builds."""
    fresh, fresh_people = factories.org_with_members(owner="owner")
    busy, busy_people = factories.org_with_members(owner="owner")
    factories.put_on_plan(busy, "growth")
    factories.invitation(busy, "someone@example.com")
    factories.api_key(busy)
    clients = {}
    for label, people in (("fresh", fresh_people), ("busy", busy_people)):
        clients[label] = app.test_client()
        login(clients[label], people["owner"])
    orgs = {"fresh": fresh, "busy": busy}

    def checklist(label) -> str:
        answer = clients[label].get(f"/o/{orgs[label].slug}/")
        assert answer.status_code == 200
        found = CHECKLIST.search(answer.get_data(as_text=True))
        assert found, label
        return found.group(0).replace(orgs[label].slug, "<slug>")

    layout._kept.clear()
    warm = {label: checklist(label) for label in ("fresh", "busy", "fresh", "busy")}
    cold = {}
    for label in ("busy", "fresh"):
        layout._kept.clear()
        cold[label] = checklist(label)
    assert warm == cold
    assert cold["fresh"] != cold["busy"]  # the states differ, so a mix-up would show
    assert 'data-step="invite" data-done="true"' in cold["busy"]
    assert 'data-step="invite" data-done="false"' in cold["fresh"]


def test_a_cookie_remembered_when_issued_reads_as_its_verification_would(app, two_orgs):
    """``dashboard/flask_app.py`` remembers the session cookie it just signed as verified:
    what it remembers is exactly what verifying that cookie gives, and a cookie differing
    from it by one character is verified afresh (refused: signed out)."""
    from dashboard.flask_app import CookieSessions

    _, _, people = two_orgs
    client = app.test_client()
    login(client, people["a_owner"])
    name = app.config["SESSION_COOKIE_NAME"]
    value = client.get_cookie(name).value
    key = (value, app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
    items, signed_at = CookieSessions._verified[key]
    data, verified_at = app.session_interface.get_signing_serializer(app).loads(
        value, return_timestamp=True)
    assert dict(items) == data and signed_at == verified_at.timestamp()
    assert client.get("/switcher").status_code == 200  # signed in with it
    other = "y" if value[1] == "x" else "x"  # a payload character changed
    client.set_cookie(name, value[0] + other + value[2:])
    assert client.get("/switcher").status_code in (302, 303)  # not signed in: to the login
