"""Usage reports kept per worker, keyed on the org and its rollup revision. No Flask here.

A report (and what is drawn from it: the chart data's JSON body, the page's charts and
data tables, in ``UsageReport.memo``) is kept under ``(org, range, today, metrics)`` with the
quotas it was made under (a report under other quotas reads the rows again) and the revision
of the org's rollups it was built from (``usage_revisions``, raised by the ingest statement
whenever a rollup changes; migration 0039). The key leaves the quotas out so that the
revision to ask about is known before the statement that reads the plan (reports.py).

Whether a kept report may be served is decided by the database on every request, never by
this process alone: the reading statement (reports.py) reads the revision under the
request's RLS context and returns the rollup rows unless the revision equals the one kept.
A hit needs that revision to come back, equal:

- another org's report is never a candidate: the org is in the key, and the revision is
  read for that org through the gate;
- a member removed (or an org suspended) on the previous request reads no revision at all
  (the gate answers NULL, zero rows), so nothing kept is served: the rows are read, and
  under RLS there are none;
- a new rollup commits a higher revision in the same transaction, so the next reader
  misses; the revision and the rows are read in one statement, one snapshot.

Bounded: the ``MAX_ENTRIES`` most recently used reports per process, least recently used
dropped first. A 365-day report with everything drawn from it is ~0.5 MB (its 1,460 points
and the page's data tables are most of it; a 30-day one ~60 KB): at most ~32 MB per worker.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

MAX_ENTRIES = 64


class RevisionCache:
    """A small LRU map ``key -> (revision, value)``; safe to share between threads."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, tuple[int, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def revision_of(self, key: tuple) -> int | None:
        """The revision kept for ``key`` (the one to ask the database about), or None."""
        entry = self._entries.get(key)
        return None if entry is None else entry[0]

    def get(self, key: tuple, revision: int | None) -> Any | None:
        """The value kept for ``key`` if it was built from ``revision``, the revision the
        database just returned for the org (None, no revision readable: never a hit)."""
        if revision is None:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != revision:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: tuple, revision: int | None, value: Any) -> None:
        if revision is None:  # no revision: nothing says when it would be stale
            return
        with self._lock:
            self._entries[key] = (revision, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


REPORTS = RevisionCache()
