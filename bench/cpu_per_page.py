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

import os
from functools import partial


def main(argv=None) -> int:
    # This checkout's set-up (bench/in_process.py), imported before ``--code`` goes first.
    import bench_profile
    import in_process

    args = in_process.arguments(argv, __doc__, database="tenantdesk_bench_o10000",
                                requests=400, warmup=100, page="one")
    tag = f"cpu_per_page_{os.getpid()}"
    app, dataset, admin = in_process.start(args, tag=tag, quiet=True)
    client, path = bench_profile.page_client(app, dataset, args.page)
    in_process.repeat(in_process.page_get(client, path), args.warmup)
    backends = in_process.Backends(admin, tag)
    app_ms, db_ms = in_process.cpu_per_call(partial(client.get, path), args.requests, backends)
    in_process.print_cpu(args.code, args.page, app_ms, db_ms, "request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
