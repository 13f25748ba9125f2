"""Issue 20: base.html's chrome is built in Python (dashboard/layout.py). The page must be
byte for byte what the former Jinja chrome rendered: tests/db/layout_before/ keeps the former
base.html and its partials (their includes pointed at the copies), and each request here
renders the same page through both, in one request (same CSRF token, flashes, principal),
for people, roles, orgs, brands and flash messages of every kind."""

from __future__ import annotations

import difflib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import g, render_template, request
from jinja2 import ChoiceLoader, DictLoader, FileSystemLoader, PrefixLoader
from sqlalchemy.exc import SQLAlchemyError

from dashboard.navigation import visible_items
from tests import factories
from tests.helpers import login

BEFORE = Path(__file__).parent / "layout_before"
NASTY = "Ünïcode <b>&amp;</b> \"quoted\" 'single' & co"

CHILDREN = {
    # Every block base.html offers, with markup and text that needs escaping.
    "layout_test/full.html": """{% extends base %}
{% block title %}Page <&> title{% endblock %}
{% block head %}<meta name="x" content="y">{% endblock %}
{% block banner %}<div class="banner">{{ "a <banner>" }}</div>{% endblock %}
{% block user_menu_links %}<p><a href="/extra">Extra</a></p>{% endblock %}
{% block content %}<h1>{{ principal.name if principal else "anyone" }}</h1>{% endblock %}
""",
    # Only the content: the defaults of every other block.
    "layout_test/plain.html": """{% extends base %}
{% block content %}<p>plain</p>{% endblock %}""",
}


def former_feature_check():
    """The former dashboard/web.py's ``_feature_check``, as it was."""
    known = []

    def has_feature(key: str) -> bool:
        if not known:
            from dashboard.licenses.web import current_entitlements

            try:
                entitlements = current_entitlements()
            except SQLAlchemyError:
                known.append(lambda _key: True)
            else:
                known.append(entitlements.has if entitlements else lambda _key: False)
        return bool(known[0](key))

    return has_feature


def former_license_notice(membership):
    """The former dashboard/licenses/web.py's ``_license_banner``, as it was."""
    from dashboard.licenses.web import current_entitlements

    if membership is None:
        return None
    try:
        entitlements = current_entitlements()
    except SQLAlchemyError:
        return None
    return entitlements.banner if entitlements else None


@pytest.fixture
def both_layouts(app, monkeypatch):
    """Views answering both renderings of a test page, as JSON, for ``endpoints``."""
    monkeypatch.setattr(
        app.jinja_env,
        "loader",
        ChoiceLoader(
            [
                DictLoader(CHILDREN),
                PrefixLoader({"layout_before": FileSystemLoader(str(BEFORE))}),
                app.jinja_env.loader,
            ]
        ),
    )
    app.jinja_env.cache.clear()

    def replace(endpoint: str) -> None:
        original = app.view_functions[endpoint]

        def view(*_args, **_kwargs):
            # What the former context processors gave every template.
            former = {
                "current_path": request.full_path.rstrip("?") if request else "/",
                "nav_items": visible_items(
                    g.get("membership"), request.endpoint, former_feature_check()
                ),
                "license_banner": lambda: former_license_notice(g.get("membership")),
            }
            pages = {}
            for child in CHILDREN:
                pages[child] = (
                    render_template(child, base="layout_before/base.html", **former),
                    render_template(child, base="base.html"),
                )
            return {"pages": pages}

        for name in ("access_rule", "required_feature"):
            if hasattr(original, name):
                setattr(view, name, getattr(original, name))
        monkeypatch.setitem(app.view_functions, endpoint, view)

    yield replace
    app.jinja_env.cache.clear()


def assert_same(client, path: str, flashes=()) -> str:
    """The page through both layouts, the same; the new one returned."""
    if flashes:
        with client.session_transaction() as session:
            session["_flashes"] = list(flashes)
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    pages = response.get_json()["pages"]
    assert pages, "no page rendered"
    for child, (before, after) in pages.items():
        if before != after:
            diff = "\n".join(
                difflib.unified_diff(
                    before.splitlines(), after.splitlines(), "before", "after", lineterm=""
                )
            )
            pytest.fail(f"{child} at {path} differs:\n{diff}")
        if flashes:
            assert 'class="flash' in after
    return after


def test_signed_out_pages_are_unchanged(client, both_layouts):
    both_layouts("auth.login")
    assert_same(client, "/login")
    assert_same(client, "/login?next=/o/x/&a=<b>", flashes=[("error", NASTY)])


def test_an_owners_org_pages_are_unchanged(client, both_layouts):
    both_layouts("orgs.home")
    both_layouts("usage.index")
    org, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, "growth")
    login(client, people["owner"])
    assert_same(client, f"/o/{org.slug}/")
    assert_same(
        client,
        f'/o/{org.slug}/?q=<x>&y="1"',
        flashes=[("info", NASTY), ("success", "Saved."), ("error", "<script>")],
    )
    assert_same(client, f"/o/{org.slug}/usage")  # another entry is the current one


def test_a_member_in_an_org_with_a_nasty_name_and_a_lapsed_license(client, both_layouts):
    both_layouts("orgs.home")
    org, people = factories.org_with_members(owner="owner", bob="member", ann="admin")
    factories.execute("UPDATE organizations SET name = :n WHERE id = :o", n=NASTY, o=org.id)
    factories.execute(
        "UPDATE users SET name = :n WHERE id = :u", n=NASTY + " Bob", u=people["bob"].id
    )
    factories.execute(
        "UPDATE users SET time_zone = 'Europe/Paris' WHERE id = :u", u=people["ann"].id
    )
    factories.put_on_plan(
        org,
        "growth",
        valid_from=datetime.now(UTC) - timedelta(days=30),
        valid_until=datetime.now(UTC) - timedelta(days=2),
    )
    for person in ("bob", "ann", "owner"):  # no "See plan" link, no time zone, both
        login(client, people[person])
        page = assert_same(client, f"/o/{org.slug}/")
        assert 'data-testid="license-banner"' in page
        assert ("See plan" in page) == (person != "bob")  # billing.view
        assert ("data-time-zone-url" in page) == (person != "ann")
    factories.put_on_plan(org, "growth", valid_from=datetime.now(UTC) + timedelta(days=3))
    assert_same(client, f"/o/{org.slug}/", flashes=[("warning", "Later")])


def test_staff_branded_orgs_and_free_plans_are_unchanged(client, both_layouts):
    both_layouts("orgs.home")
    branded, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(branded, "enterprise")
    factories.branding(branded, display_name="Acme <Robotics>", primary_color="#1f4e9c")
    factories.make_staff(people["owner"])
    login(client, people["owner"])
    page = assert_same(client, f"/o/{branded.slug}/")
    assert "brand-logo" in page and "Staff console" in page and "/theme" in page
    white, others = factories.org_with_members(owner="owner")
    factories.put_on_plan(white, "enterprise")
    factories.branding(white, logo=False, display_name="Initrode & co", white_label=True)
    login(client, others["owner"])
    assert_same(client, f"/o/{white.slug}/")
    free, free_people = factories.org_with_members(owner="owner")  # locked entries
    login(client, free_people["owner"])
    assert 'class="lock"' in assert_same(client, f"/o/{free.slug}/")


def test_a_signed_in_page_outside_any_org_is_unchanged(client, both_layouts):
    both_layouts("accounts.profile")
    org, people = factories.org_with_members(owner="owner")
    login(client, people["owner"])
    assert_same(client, "/account", flashes=[("info", "Outside <an> org")])


@pytest.fixture
def both_homes(app, monkeypatch, both_layouts):
    """The org home answering the page it serves and the former templates' rendering of the
    same data (templates/orgs/home.html as it was, over the former base.html)."""
    from dashboard.orgs import page as home_page

    original = app.view_functions["orgs.home"]
    content = home_page.content
    seen = []

    def capturing(*args):
        seen.append(args)
        return content(*args)

    monkeypatch.setattr(home_page, "content", capturing)

    def view(*args, **kwargs):
        seen.clear()
        served = original(*args, **kwargs)
        overview, panels, _role, _zone, usage_home = seen[0]
        former = render_template(
            "layout_before/orgs_home.html",
            base="layout_before/base.html",
            overview=overview,
            panels=panels,
            usage_home=usage_home,
            current_path=request.full_path.rstrip("?"),
            nav_items=visible_items(g.membership, request.endpoint, former_feature_check()),
            license_banner=lambda: former_license_notice(g.membership),
        )
        return {"pages": {"home": (former, served.decode())}}

    view.access_rule = original.access_rule
    monkeypatch.setitem(app.view_functions, "orgs.home", view)


def test_the_org_home_is_unchanged_for_every_panel(client, both_homes):
    org, people = factories.org_with_members(owner="owner", bob="member", ann="admin")
    factories.execute("UPDATE organizations SET name = :n WHERE id = :o", n=NASTY, o=org.id)
    factories.execute(
        "UPDATE users SET time_zone = 'Europe/Paris' WHERE id = :u", u=people["ann"].id
    )
    login(client, people["owner"])
    empty = assert_same(client, f"/o/{org.slug}/")  # a new org: nothing pending, no events
    assert "No pending invitations." in empty
    for i in range(7):
        factories.invitation(org, f"pending{i}+<x>@example.com")
    factories.api_key(org)
    factories.execute(
        "INSERT INTO audit_events (org_id, actor, action, target) VALUES"
        " (:o, :a, 'org.update', :t), (:o, 'x@example.com', 'member.remove', NULL),"
        " (:o, 'y@example.com', 'unknown.<action>', 'z')",
        o=org.id,
        a=NASTY,
        t="org:<renamed>",
    )
    for person in ("owner", "ann", "bob"):  # every panel, another zone, none of them
        login(client, people[person])
        page = assert_same(client, f"/o/{org.slug}/", flashes=[("info", "Welcome <back>")])
        assert ("All 7 invitations" in page) == (person != "bob")
    factories.put_on_plan(org, "enterprise")
    factories.execute(
        "INSERT INTO sso_domains (org_id, domain, token, verified_at)"
        " VALUES (:o, :d, repeat('t', 20), now())",
        o=org.id,
        d=f"{org.slug}.example",
    )
    login(client, people["owner"])
    assert "<s>Verify a domain</s>" in assert_same(client, f"/o/{org.slug}/")
