"""CPU per request of one page for one checkout: this process and its PostgreSQL backends
(issue 20, session 9). Run it for two checkouts in turn, alternating, and compare medians:

    for i in 1 2 3 4 5 6; do for code in /tmp/base /work/wt/home; do
      .venv/bin/python bench/cpu_per_page.py --code $code --page home --requests 400
    done; done

The real app in this process (create_app, runtime role, RLS on) and Flask's test client, as
bench/callgrind_pages.py. Unlike an instruction count, the process's CPU time includes what
each round trip costs it (system calls, a cold cache after each wait). The backends are told
apart by an application_name of their own and read from /proc/<pid>/schedstat (a server on
this machine only).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="tenantdesk_bench_o10000")
    parser.add_argument("--page", default="home", help="a page key of bench/pages.py")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--code", default=str(Path(__file__).resolve().parent.parent))
    args = parser.parse_args(argv)
    # This script's own set-up (bench_profile.bench_app), the measured checkout's code:
    # imported before ``--code`` goes first on the path, so an older checkout works too.
    import bench_profile

    sys.path.insert(0, args.code)
    sys.path.insert(0, str(Path(args.code) / "bench"))
    import psycopg

    from dashboard import provisioning

    logging.disable(logging.CRITICAL)
    tag = f"cpu_per_page_{os.getpid()}"
    app, dataset, admin = bench_profile.bench_app(args.database, application_name=tag)
    client, path = bench_profile.page_client(app, dataset, args.page)
    for _ in range(args.warmup):
        assert client.get(path).status_code == 200
    monitor = psycopg.connect(provisioning.libpq_url(admin), autocommit=True)

    def backends_ns() -> int:
        pids = monitor.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (tag,)
        ).fetchall()
        return sum(int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) for (pid,) in pids)

    db_before, before = backends_ns(), os.times()
    for _ in range(args.requests):
        client.get(path)
    after, db_after = os.times(), backends_ns()
    app_ms = (after.user + after.system - before.user - before.system) / args.requests * 1e3
    db_ms = (db_after - db_before) / args.requests / 1e6
    print(
        f"{args.code} {args.page}: app {app_ms:.3f} + db {db_ms:.3f} = "
        f"{app_ms + db_ms:.3f} ms CPU per request"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
