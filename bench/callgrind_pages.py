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

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="tenantdesk_bench_o100")
    parser.add_argument("--page", default="home", help="a page key of bench/pages.py")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--code", default=str(Path(__file__).resolve().parent.parent))
    args = parser.parse_args(argv)
    # This script's own set-up (bench_profile.bench_app), the measured checkout's code:
    # imported before ``--code`` goes first on the path, so an older checkout works too.
    import bench_profile

    sys.path.insert(0, args.code)
    sys.path.insert(0, str(Path(args.code) / "bench"))
    import dashboard

    app, dataset, _admin = bench_profile.bench_app(args.database)
    client, path = bench_profile.page_client(app, dataset, args.page)
    print(f"{args.page}: {path} ({Path(dashboard.__file__).parent})", file=sys.stderr)

    def run(count: int) -> None:
        for _ in range(count):
            response = client.get(path)
            assert response.status_code == 200, response.status_code

    run(args.warmup)
    sys.call_tracing(run, (args.requests,))
    return 0


if __name__ == "__main__":
    sys.exit(main())
