"""A members search's total, kept per worker by the org's member revision (issue 20).

Counting a search's matches reads every member of the org (5,000 index entries and a LIKE
each for the bench org: ~0.8 ms of PostgreSQL's CPU), and the answer changes only when the
org's members do. ``member_revisions`` (migration 0056) holds a fresh random value per org
that triggers replace in every transaction that adds or removes a member or changes one's
role or search key. The search statement reads that revision under the org's policy, in
the same snapshot as its rows, and counts again only when the revision is not the one kept
here: a kept total is only ever used for the revision (of the org the gate admits) it was
counted at. Keyed by org as well, so one org's entry never pushes out the lookup of another's.
"""

from __future__ import annotations

import threading
import uuid

_MAX_KEPT = 4096  # (org, search, role) triples per worker; the oldest goes first
_kept: dict[tuple[str, str, str], tuple[str, int]] = {}
_lock = threading.Lock()


def known(org_id: uuid.UUID | None, pattern: str, role: str) -> tuple[str | None, int]:
    """(revision, total) kept for this search, or (None, 0): the statement counts."""
    if org_id is None:
        return None, 0
    return _kept.get((str(org_id), pattern, role), (None, 0))


def keep(org_id: uuid.UUID | None, pattern: str, role: str, revision: str | None,
         total: int) -> None:
    """Keep the total a statement read at ``revision`` (None: the org has no revision row)."""
    if org_id is None or revision is None:
        return
    key = (str(org_id), pattern, role)  # the context's org id may be its text
    if _kept.get(key) == (revision, total):
        return
    with _lock:
        if key not in _kept and len(_kept) >= _MAX_KEPT:
            _kept.pop(next(iter(_kept)))
        _kept[key] = (revision, total)


def forget_all() -> None:
    """Tests: start from nothing kept."""
    with _lock:
        _kept.clear()
