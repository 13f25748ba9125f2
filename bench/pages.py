"""The pages the benchmark drives, found in the app's URL map as they land on main.

A page is matched by its URL rule (and endpoint name where the rule alone is ambiguous), so
one that is not built yet is reported as "not available yet" and picked up once it exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from werkzeug.routing import Map, Rule

# Values for URL variables a page may need beyond the slug; extra keys become the query string.
URL_VALUES = {"metric": "api_calls", "range": 365}


@dataclass(frozen=True)
class Page:
    key: str
    label: str
    match: Callable[[Rule], bool]
    query: dict = field(default_factory=dict)
    slug: str = "big"  # which seeded org: "big" (5,000 members) or "huge" (100,000)


def _rule_is(path: str) -> Callable[[Rule], bool]:
    return lambda rule: rule.rule.rstrip("/") == path.rstrip("/")


def _usage_data(rule: Rule) -> bool:
    """The usage chart's data: a usage route about chart data/series, not the HTML page."""
    if not rule.rule.startswith("/o/<slug>/usage") or rule.rule.rstrip("/").endswith("usage"):
        return False
    name = f"{rule.endpoint} {rule.rule}".lower()
    return any(word in name for word in ("data", "chart", "series", ".json"))


PAGES = [
    Page("whoami", "minimal signed-in request (whoami JSON)", _rule_is("/o/<slug>/whoami.json")),
    Page("home", "org home (5,000-member org)", _rule_is("/o/<slug>/")),
    Page("members", "members page (5,000 members)", _rule_is("/o/<slug>/members")),
    Page("members_search", "members search (5,000 members)", _rule_is("/o/<slug>/members"),
         {"q": "ana"}),
    # The same page in the 100,000-member org (bench/seed.py's HUGE_SLUG, 10,000-org data only).
    Page("members_huge", "members page (100,000 members)", _rule_is("/o/<slug>/members"),
         slug="huge"),
    Page("usage", "usage chart data (365 days)", _usage_data, {"range": 365}),
    Page("usage_page", "usage page (365 days, charts)", _rule_is("/o/<slug>/usage"),
         {"range": 365}),
]


def find(url_map: Map, page: Page) -> Rule | None:
    rules = [r for r in url_map.iter_rules() if "GET" in (r.methods or ()) and page.match(r)]
    return sorted(rules, key=lambda r: (len(r.arguments), r.rule))[0] if rules else None


def path_for(url_map: Map, page: Page, slug: str | None) -> tuple[str | None, str]:
    """(path, note): the path to load for ``slug``, or None and why not."""
    if slug is None:
        return None, f"no {page.slug} org in this dataset"
    rule = find(url_map, page)
    if rule is None:
        return None, "not available yet"
    values = {"slug": slug, **page.query}
    for argument in rule.arguments - values.keys():
        if argument not in URL_VALUES:
            return None, f"{rule.rule} needs <{argument}>; add it to bench/pages.py"
        values[argument] = URL_VALUES[argument]
    adapter = url_map.bind("127.0.0.1")
    return adapter.build(rule.endpoint, values), rule.endpoint
