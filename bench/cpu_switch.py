"""CPU per org switch (POST /switch) for one checkout: this process and its PostgreSQL
backends (issue 20, session 10). bench/cpu_per_page.py's measurement for the one POST it
cannot send, driven as bench/callgrind_switch.py drives it (a benchmark login flipping
between two orgs: every request a real switch). Alternate two checkouts and compare medians:

    for i in 1 2 3 4 5 6; do for code in /tmp/base /work/wt/chartswitch; do
      .venv/bin/python bench/cpu_switch.py --code $code --requests 300
    done; done
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
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--login", type=int, default=3, help="index of the benchmark login")
    parser.add_argument("--code", default=str(Path(__file__).resolve().parent.parent))
    args = parser.parse_args(argv)
    # This script's own set-up, the measured checkout's code (as bench/cpu_per_page.py).
    import bench_profile

    sys.path.insert(0, args.code)
    sys.path.insert(0, str(Path(args.code) / "bench"))
    import psycopg
    from bench_switch import _csrf

    from dashboard import provisioning

    logging.disable(logging.CRITICAL)
    tag = f"cpu_switch_{os.getpid()}"
    app, dataset, admin = bench_profile.bench_app(args.database, application_name=tag)
    slugs = dataset.switch_slugs[:2]
    client = bench_profile.sign_in(
        app, dataset.logins[args.login], dataset.password, f"/o/{slugs[0]}/"
    )
    csrf = _csrf(client)
    flip = [0]

    def run(count: int) -> None:
        for _ in range(count):
            flip[0] += 1
            slug = slugs[flip[0] % 2]  # the other org each time: a real switch
            response = client.post("/switch", data={"csrf_token": csrf, "slug": slug})
            assert response.status_code == 303, response.status_code

    run(args.warmup)
    monitor = psycopg.connect(provisioning.libpq_url(admin), autocommit=True)

    def backends_ns() -> int:
        pids = monitor.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (tag,)
        ).fetchall()
        return sum(int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) for (pid,) in pids)

    db_before, before = backends_ns(), os.times()
    run(args.requests)
    after, db_after = os.times(), backends_ns()
    app_ms = (after.user + after.system - before.user - before.system) / args.requests * 1e3
    db_ms = (db_after - db_before) / args.requests / 1e6
    print(
        f"{args.code} switch: app {app_ms:.3f} + db {db_ms:.3f} = "
        f"{app_ms + db_ms:.3f} ms CPU per switch"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
