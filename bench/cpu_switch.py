"""CPU per org switch (POST /switch) for one checkout: this process and its PostgreSQL
backends (issue 20, session 10). bench/cpu_per_page.py's measurement for the one POST it
cannot send, driven as bench/callgrind_switch.py drives it (a benchmark login flipping
between two orgs: every request a real switch). Alternate two checkouts and compare medians:

    for i in 1 2 3 4 5 6; do for code in /tmp/base /work/wt/chartswitch; do
      .venv/bin/python bench/cpu_switch.py --code $code --requests 300
    done; done
"""

from __future__ import annotations

import os


def main(argv=None) -> int:
    # This checkout's set-up (bench/in_process.py), imported before ``--code`` goes first.
    import in_process

    args = in_process.arguments(argv, __doc__, database="tenantdesk_bench_o10000",
                                requests=300, warmup=60, login=True)
    tag = f"cpu_switch_{os.getpid()}"
    app, dataset, admin = in_process.start(args, tag=tag, quiet=True)
    _slugs, switch = in_process.switcher(app, dataset, args.login)
    in_process.repeat(switch, args.warmup)
    backends = in_process.Backends(admin, tag)
    app_ms, db_ms = in_process.cpu_per_call(switch, args.requests, backends)
    in_process.print_cpu(args.code, "switch", app_ms, db_ms, "switch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
