"""The in-process A/B loop of bench/ab_*.py: variants take turns in ONE process, round after
round, so the shared machine's drift falls on each alike, and each measured block is CPU per
call of this process (app) and of the PostgreSQL server's processes (db)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Iterator

from cpu import _spent, _tree_seconds, postmaster_pid


def turns(variants: Iterable[str], rounds: int, *,
          swap_each_round: bool = False) -> Iterator[tuple[int, str]]:
    """(round, variant) for each round, each variant in turn; ``swap_each_round``: every
    other round in the reverse order, so neither always runs first after a round's start."""
    names = list(variants)
    for round_no in range(rounds):
        yield from ((round_no, name) for name in
                    (reversed(names) if swap_each_round and round_no % 2 else names))


class Meter:
    """CPU per call: this process's, and the server's (every backend) when it runs here."""

    def __init__(self, admin_url: str) -> None:
        self.db_pid = postmaster_pid(admin_url)

    def per_call(self, call: Callable[[], object], times: int, *,
                 before: Callable[[], object] | None = None,
                 after: Callable[[], object] | None = None) -> tuple[float, float]:
        """(app ms, db ms) of CPU per call over ``times`` calls of ``call()``. ``before`` runs
        just before the first sample and ``after`` just after the last call (a callgrind
        client request that starts and dumps a profile). The calls run inside
        functools.reduce: under callgrind, ``--toggle-collect=functools_reduce
        --dump-after=functools_reduce`` makes each block one profile."""
        if before is not None:
            before()
        app_start, db_start = time.process_time(), _tree_seconds(self.db_pid)
        functools.reduce(lambda n, _: (call(), n + 1)[1], range(times), 0)
        if after is not None:
            after()
        app_s = time.process_time() - app_start
        db_s, _ended = _spent(db_start, _tree_seconds(self.db_pid))
        return app_s * 1000 / times, db_s * 1000 / times
