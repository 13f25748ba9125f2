"""App instructions per org switch (POST /switch), counted by callgrind (issue 20, session 9).

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=sys_call_tracing \\
        --callgrind-out-file=/tmp/cg.%p .venv/bin/python bench/callgrind_switch.py \\
        --database tenantdesk_bench_o100 --requests 20
    callgrind_annotate /tmp/cg.<pid> | head   # "PROGRAM TOTALS" / --requests

bench/callgrind_pages.py for the one POST it cannot send: a benchmark login flips between
``bench-a`` and ``bench-b`` (bench/seed.py), so every request is a real switch (membership
checked, old session revoked, new session row, audit row, new token, 303). Only the measured
switches run inside ``sys.call_tracing``, so ``--toggle-collect`` counts them and nothing of
the start-up or the warm-up. ``--code DIR`` counts another checkout's code the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv=None) -> int:
    # This checkout's set-up (bench/in_process.py), imported before ``--code`` goes first.
    import in_process

    args = in_process.arguments(argv, __doc__, database="tenantdesk_bench_o100",
                                requests=20, warmup=30, login=True)
    app, dataset, _admin = in_process.start(args)
    import dashboard

    slugs, switch = in_process.switcher(app, dataset, args.login)
    print(f"switch: {slugs} ({Path(dashboard.__file__).parent})", file=sys.stderr)
    in_process.repeat(switch, args.warmup)
    sys.call_tracing(in_process.repeat, (switch, args.requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
