"""Org rules: creation, slugs and the home overview. No Flask here."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dashboard.auth import service as auth_service

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
RESERVED_SLUGS = frozenset({"admin", "api", "new", "static", "login", "logout", "www"})


class OrgError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class OrgOverview:
    id: uuid.UUID
    slug: str
    name: str
    plan: str
    status: str
    member_count: int


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:40].strip("-")


def validate_slug(slug: str) -> str:
    slug = slug.strip().lower()
    if not SLUG_RE.match(slug):
        raise OrgError(
            "slug", "Use 1–40 lowercase letters, digits or hyphens, not starting or ending with -."
        )
    if slug in RESERVED_SLUGS:
        raise OrgError("slug", "That address is reserved. Choose another.")
    return slug


def create_org(session: Session, name: str, slug: str) -> uuid.UUID:
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise OrgError("name", "Give the organization a name of 1–100 characters.")
    slug = validate_slug(slug or slugify(name))
    try:
        with session.begin_nested():
            return auth_service.create_org(session, name, slug)
    except IntegrityError as exc:
        raise OrgError("slug", "That address is taken. Choose another.") from exc


def overview(session: Session) -> OrgOverview | None:
    """The current org (from the RLS context) with its member count, in one query. The count
    is kept per role by a trigger (``member_counts``): a few rows, whatever the org's size."""
    row = session.execute(_OVERVIEW_SQL).one_or_none()
    return OrgOverview(*row) if row else None


# SQL text, not an expression built per request (issue 20). The API's org endpoint reads it;
# the org home reads the same figures inside its one statement (orgs/home.py).
_OVERVIEW_SQL = text(
    "SELECT o.id, o.slug, o.name, o.plan, o.status,"
    " (SELECT coalesce(sum(c.members), 0) FROM member_counts c WHERE c.org_id = o.id)"
    " FROM organizations o"
)
