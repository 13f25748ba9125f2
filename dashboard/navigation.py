"""Side navigation entries. Each blueprint registers its own; ``can(...)`` decides visibility."""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    permission: str
    order: int = 50


_ITEMS: dict[str, NavItem] = {}


def register(label: str, endpoint: str, permission: str, order: int = 50) -> None:
    _ITEMS[endpoint] = NavItem(label, endpoint, permission, order)


def visible_items(membership, current_endpoint: str | None) -> list[dict]:
    if membership is None:
        return []
    items = sorted(_ITEMS.values(), key=lambda item: (item.order, item.label))
    return [
        {
            "label": item.label,
            "url": url_for(item.endpoint, slug=membership.slug),
            "current": current_endpoint == item.endpoint,
        }
        for item in items
        if item.permission in membership.permissions
    ]
