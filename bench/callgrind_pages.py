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
    sys.path.insert(0, args.code)
    sys.path.insert(0, str(Path(args.code) / "bench"))

    import bench_profile
    import pages
    import seed

    from dashboard import create_app, provisioning

    admin, _source = seed.admin_url()
    dataset = seed.read_dataset(admin, args.database)
    urls = provisioning.bootstrap(admin, args.database)
    app = create_app({"DATABASE_URLS": urls, "DB_POOL_SIZE": 2})
    page = next(p for p in pages.PAGES if p.key == args.page)
    org = dataset.huge_org if page.slug == "huge" else dataset.big_org
    login = dataset.logins[2] if page.slug == "huge" else dataset.logins[1]
    client = bench_profile.sign_in(app, login, dataset.password, f"/o/{org['slug']}/")
    path, _note = pages.path_for(app.url_map, page, org["slug"])
    import dashboard

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
