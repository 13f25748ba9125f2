"""App instructions per request of a few pages, counted by callgrind (issue 20, session 8).

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=sys_call_tracing \\
        --callgrind-out-file=/tmp/cg.%p .venv/bin/python bench/callgrind_pages.py \\
        --database tenantdesk_bench_o100 --page home --requests 20
    callgrind_annotate /tmp/cg.<pid> | head   # "PROGRAM TOTALS" / --requests

The real app in this process (create_app, runtime role, RLS on) and Flask's test client, as
bench/bench_profile.py. Only the measured requests run inside ``sys.call_tracing``, a C
function nothing else calls, so ``--toggle-collect`` counts them and nothing of the start-up
or the warm-up. Instruction counts do not drift with the shared machine's load. Run with
``--code DIR`` to count another checkout's code (an extracted ``git archive``) the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv=None) -> int:
    # This checkout's set-up (bench/in_process.py), imported before ``--code`` goes first.
    import bench_profile
    import in_process

    args = in_process.arguments(argv, __doc__, database="tenantdesk_bench_o100",
                                requests=20, warmup=30, page="one")
    app, dataset, _admin = in_process.start(args)
    import dashboard

    client, path = bench_profile.page_client(app, dataset, args.page)
    print(f"{args.page}: {path} ({Path(dashboard.__file__).parent})", file=sys.stderr)
    get = in_process.page_get(client, path)
    in_process.repeat(get, args.warmup)
    sys.call_tracing(in_process.repeat, (get, args.requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
