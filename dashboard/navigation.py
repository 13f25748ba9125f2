"""Side navigation entries. Each blueprint registers its own; ``can(...)`` decides visibility.

An entry registered with ``feature=`` carries a lock mark while the org's plan lacks it (the
page then explains and offers "Request upgrade"); the entitlements are the request's own,
read once per transaction, so the mark costs no query of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import url_for


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    permission: str
    order: int = 50
    feature: str | None = None  # the plan feature the page is about, if any


_ITEMS: dict[str, NavItem] = {}


def register(
    label: str, endpoint: str, permission: str, order: int = 50, feature: str | None = None
) -> None:
    _ITEMS[endpoint] = NavItem(label, endpoint, permission, order, feature)
    _SORTED[0] = None


def _in_order() -> list[NavItem]:
    """The entries by (order, label), sorted again only after a new one is registered."""
    if _SORTED[0] is None:
        _SORTED[0] = sorted(_ITEMS.values(), key=lambda item: (item.order, item.label))
    return _SORTED[0]


_SORTED: list[list[NavItem] | None] = [None]


def features_shown(permissions: frozenset[str]) -> tuple[str, ...]:
    """The plan features of the entries these permissions show (their lock marks): with the
    permissions, the current endpoint and the URLs, all ``visible_items`` depends on."""
    return tuple(
        item.feature
        for item in _in_order()
        if item.feature is not None and item.permission in permissions
    )


def visible_items(
    membership, current_endpoint: str | None, has_feature: Callable[[str], bool] = lambda _key: True
) -> list[dict]:
    if membership is None:
        return []
    items = _in_order()
    return [
        {
            "label": item.label,
            "url": url_for(item.endpoint, slug=membership.slug),
            "current": current_endpoint == item.endpoint,
            "locked": item.feature is not None and not has_feature(item.feature),
        }
        for item in items
        if item.permission in membership.permissions
    ]
