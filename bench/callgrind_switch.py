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

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="tenantdesk_bench_o100")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--login", type=int, default=3, help="index of the benchmark login")
    parser.add_argument("--code", default=str(Path(__file__).resolve().parent.parent))
    args = parser.parse_args(argv)
    # This script's own set-up (bench_profile.bench_app), the measured checkout's code:
    # imported before ``--code`` goes first on the path, so an older checkout works too.
    import bench_profile

    sys.path.insert(0, args.code)
    sys.path.insert(0, str(Path(args.code) / "bench"))
    from bench_switch import _csrf

    import dashboard

    app, dataset, _admin = bench_profile.bench_app(args.database)
    slugs = dataset.switch_slugs[:2]
    client = bench_profile.sign_in(
        app, dataset.logins[args.login], dataset.password, f"/o/{slugs[0]}/"
    )
    csrf = _csrf(client)
    print(f"switch: {slugs} ({Path(dashboard.__file__).parent})", file=sys.stderr)
    flip = [0]

    def run(count: int) -> None:
        for _ in range(count):
            flip[0] += 1
            slug = slugs[flip[0] % 2]  # the other org each time: a real switch
            response = client.post("/switch", data={"csrf_token": csrf, "slug": slug})
            assert response.status_code == 303, response.status_code

    run(args.warmup)
    sys.call_tracing(run, (args.requests,))
    return 0


if __name__ == "__main__":
    sys.exit(main())
