"""In-process A/B of a dedicated org's cell reads (issue 20, session 8): the transaction path
(BEGIN, context, read, COMMIT on the org's database; the tier ticket minted for a statement
alone on the shared one too) against the one self-committing statement
(``cell_reads.read_cells``), alternating in ONE process so the machine's drift falls on both.

    .venv/bin/python bench/ab_tier_reads.py --rounds 6 --requests 100
    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=functools_reduce \
      --dump-after=functools_reduce --callgrind-out-file=/tmp/cg/ab.%p \
      .venv/bin/python bench/ab_tier_reads.py --rounds 2 --requests 20   # instructions

Seeds as bench/bench_tiers.py (its database, 5,000 members, a year of usage; no
100,000-member org), moves the org to the dedicated database, then per round and variant:
a warm-up, then ``--requests`` requests of each page; CPU ms per request of this process
(app) and of the PostgreSQL server (every backend), statements per request (shared +
dedicated). Medians over the rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PAGES = {
    "whoami": "/o/{slug}/whoami.json",
    "org home": "/o/{slug}/",
    "usage page": "/o/{slug}/usage?range=365",
    "usage chart data": "/o/{slug}/usage/data.json?range=365",
    "members": "/o/{slug}/members",
}


@contextlib.contextmanager
def transaction_path():
    """The code before this pass: reads in a transaction there, a ticket for every
    statement of a dedicated org."""
    from dashboard import tenancy
    from dashboard.tiers import dedicated

    keeps, packed = dedicated.Engines.keeps_session_settings, tenancy._packed_row
    dedicated.Engines.keeps_session_settings = lambda self, engine: False
    tenancy._packed_row = lambda *a, ticket=True, **kw: packed(*a, ticket=True, **kw)
    try:
        yield
    finally:
        dedicated.Engines.keeps_session_settings = keeps
        tenancy._packed_row = packed


def main(argv: list[str] | None = None) -> int:
    import bench_tiers
    import seed as bench_seed
    from alternate import Meter, turns

    from dashboard.db import recording_statements

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args(argv)
    admin, _ = bench_seed.admin_url()
    urls, _org_id, _ = bench_tiers.seed(admin, 5000, 20000, 0)
    bench_tiers.move(urls, "dedicated")
    meter = Meter(admin)
    app = bench_tiers.app_for(urls)
    client = bench_tiers.signed_in(app)
    database = app.extensions["tenantdesk.db"]
    client.get(f"/o/{bench_tiers.SLUG}/")  # opens the dedicated database's engine
    variants = {"transaction": transaction_path, "one statement": contextlib.nullcontext}
    figures = {(v, p): [] for v in variants for p in PAGES}
    stmts = {}
    blocks = []  # the order of the measured blocks (callgrind's dumps come in this order)
    with (
        open(bench_seed.OUT_DIR / "ab_tier_reads.log", "w") as log,
        contextlib.redirect_stderr(log),
    ):
        for _, variant in turns(variants, args.rounds):
            with variants[variant]():
                for page, path in PAGES.items():
                    url = path.format(slug=bench_tiers.SLUG)
                    for _ in range(5):
                        assert client.get(url).status_code == 200, url
                    (engine,) = database.dedicated.open_engines()
                    with (
                        recording_statements(database.engine) as shared,
                        recording_statements(engine) as there,
                    ):
                        client.get(url)
                    stmts[(variant, page)] = (len(shared), len(there))
                    # Under callgrind: one profile per block (bench/alternate.py).
                    call = functools.partial(client.get, url)
                    figures[(variant, page)].append(meter.per_call(call, args.requests))
                    blocks.append((variant, page))
    print(f"{args.rounds} rounds x {args.requests} requests, medians, CPU ms per request")
    print(f"{'page':<18} {'variant':<14} {'app':>5} {'db':>5} {'total':>6}  statements")
    for page in PAGES:
        for variant in variants:
            runs = figures[(variant, page)]
            app_ms = statistics.median(a for a, _ in runs)
            db_ms = statistics.median(d for _, d in runs)
            shared, there = stmts[(variant, page)]
            print(
                f"{page:<18} {variant:<14} {app_ms:5.2f} {db_ms:5.2f} {app_ms + db_ms:6.2f}"
                f"  {shared + there} ({there})"
            )
    print("blocks in order:", "; ".join(f"{v}/{p}" for v, p in blocks))
    database.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
