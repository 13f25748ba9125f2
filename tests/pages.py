"""The dashboard's main pages, found in the URL map, for checks that must hold on every page
(accessibility, Content-Security-Policy). A new page is covered without touching the tests.

A main page is a GET route that renders HTML and needs no argument other than the org
(``slug``, or ``org_id`` under /admin): data files (.csv/.json/.jsonl/.zip), APIs and routes that
take an object id are left out.
"""

from __future__ import annotations

from tests import factories

SKIP_PREFIXES = ("/api/", "/partner/", "/.well-known/", "/auth/", "/sso/", "/static/")
SKIP_SUFFIXES = (".csv", ".json", ".jsonl", ".zip", ".xml")
# Pages that only make sense mid-flow (they redirect when opened directly).
SKIP_PATHS = {"/switched", "/logout"}


def main_page_paths(app, slug: str, org_id) -> list[str]:
    paths = {"/login"}
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        if not set(rule.arguments) <= {"slug", "org_id"}:
            continue
        if rule.rule.startswith(SKIP_PREFIXES) or rule.rule.endswith(SKIP_SUFFIXES):
            continue
        _, path = rule.build({"slug": slug, "org_id": org_id}, append_unknown=False)
        if path not in SKIP_PATHS:
            paths.add(path)
    return sorted(paths)


def enterprise_org_with_staff_owner():
    """An org on the enterprise plan (every feature on) with some usage, and its owner, who
    is also staff so the /admin pages render for them too."""
    tag = factories.unique("pages")
    org = factories.OrgFactory(name=f"Pages {tag}", slug=f"pages-{tag}")
    owner = factories.UserFactory()
    factories.MembershipFactory(org_id=org.id, user_id=owner.id, role="owner")
    factories.MembershipFactory(org_id=org.id, user_id=factories.UserFactory().id,
                                role="member")
    factories.put_on_plan(org, "enterprise")
    factories.make_staff(owner)
    factories.execute("UPDATE users SET last_org_id = :o WHERE id = :u", o=org.id, u=owner.id)
    factories.execute(
        "INSERT INTO usage_daily (org_id, metric, day, total)"
        " SELECT :o, 'api_calls', current_date - i, 10 + i FROM generate_series(0, 40) i",
        o=org.id,
    )
    return org, owner
