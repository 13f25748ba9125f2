"""In-process A/B of the org home and the usage chart data (issue 20, session 6): the code
of a base commit against this checkout's, alternating in ONE process, so that the shared
machine's drift falls on both alike.

    .venv/bin/python bench/ab_home.py --database tenantdesk_bench_o1000 --rounds 6

The base's ``usage/reports.py``, ``usage/web.py``, ``orgs/home.py`` and ``orgs/home.html``
are loaded from git as modules (and a template) of their own; "base" puts its home view and
its reports module in place and turns ``App.url_for``'s memo off, "new" this checkout's.
Everything else (the app, the sign-in, the context statement) is the same code for both. Per
round and variant: a warm-up, then ``--requests`` requests of each page, CPU of this process
(app) and of the PostgreSQL server (every backend), per request.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import types
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))


def base_module(base: str, path: str, name: str, **patches) -> types.ModuleType:
    source = subprocess.check_output(["git", "-C", str(ROOT), "show", f"{base}:{path}"],
                                     text=True)
    module = types.ModuleType(name)
    module.__file__ = str(ROOT / path)
    sys.modules[name] = module  # dataclasses look their module up
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102
    module.__dict__.update(patches)
    return module


def variants(app, base: str) -> dict:
    from flask import abort, g, render_template

    from dashboard import tenancy
    from dashboard.permissions import Permission, requires
    from dashboard.usage import reports as new_reports
    from dashboard.usage import routes as usage_routes

    old_reports = base_module(base, "dashboard/usage/reports.py", "ab_base_reports")
    old_web = base_module(base, "dashboard/usage/web.py", "ab_base_web", reports=old_reports)
    old_home = base_module(base, "dashboard/orgs/home.py", "ab_base_home")
    # The base's home template, under a name of its own (it extends the same base.html).
    from jinja2 import ChoiceLoader, DictLoader

    old_template = subprocess.check_output(
        ["git", "-C", str(ROOT), "show", f"{base}:templates/orgs/home.html"], text=True)
    app.jinja_env.loader = ChoiceLoader([DictLoader({"ab_base/orgs/home.html": old_template}),
                                         app.jinja_env.loader])

    @requires(Permission.ORG_VIEW)
    def base_home_view():  # the base's orgs.routes.home
        membership = g.membership
        found = old_home.home(tenancy.request_session(), membership.org_id,
                              frozenset(membership.permissions))
        if found is None:
            abort(404)
        overview, panels = found
        return render_template("ab_base/orgs/home.html", overview=overview,
                               usage_home=old_web.home_panel(), panels=panels)

    new_home_view = app.view_functions["orgs.home"]

    def use_base():
        app.view_functions["orgs.home"] = base_home_view
        usage_routes.reports = old_reports
        app._url_memo = False  # App.url_for goes Flask's way, as before its memo

    def use_new():
        app.view_functions["orgs.home"] = new_home_view
        usage_routes.reports = new_reports
        app._url_memo = None  # decided again: on

    return {"base": use_base, "new": use_new}


def main(argv=None) -> int:
    import bench_profile
    import pages
    import seed
    from alternate import Meter, turns

    from dashboard import create_app, provisioning
    from dashboard.db import recording_statements

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="tenantdesk_bench_o1000")
    parser.add_argument("--base", default="7c1d4cb")
    parser.add_argument("--pages", default="home,usage,usage_page")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--callgrind", metavar="LIB",
                        help="under valgrind --tool=callgrind --instr-atstart=no: a shared"
                             " library with cg_start() (zero, instrument) and cg_stop(name)"
                             " (stop, dump) from valgrind/callgrind.h; each measured loop is"
                             " one dump, named 'variant page round'")
    args = parser.parse_args(argv)
    marks = None
    if args.callgrind:
        import ctypes

        marks = ctypes.CDLL(args.callgrind)

    admin, _ = seed.admin_url()
    dataset = seed.read_dataset(admin, args.database)
    urls = provisioning.bootstrap(admin, args.database)
    app = create_app({"DATABASE_URLS": urls, "DB_POOL_SIZE": 2})
    meter = Meter(admin)
    client = bench_profile.sign_in(app, dataset.logins[1], dataset.password,
                                   f"/o/{dataset.big_org['slug']}/")
    wanted = args.pages.split(",")
    targets = []
    for page in pages.PAGES:
        if page.key in wanted:
            path, _ = pages.path_for(app.url_map, page, dataset.big_org["slug"])
            targets.append((page.key, path, partial(client.get, path)))
    switch = variants(app, args.base)
    engine = app.extensions["tenantdesk.db"].engine
    results: dict = {}
    for round_no, variant in turns(switch, args.rounds, swap_each_round=True):
        switch[variant]()
        for key, path, call in targets:
            for _ in range(30):
                answer = call()
                assert answer.status_code == 200, (variant, path, answer.status_code)
            with recording_statements(engine) as statements:
                call()
            cg = {} if marks is None else {
                "before": marks.cg_start,
                "after": partial(marks.cg_stop, f"{variant} {key} {round_no}".encode()),
            }
            app_ms, db_ms = meter.per_call(call, args.requests, **cg)
            results.setdefault((key, variant), []).append((app_ms, db_ms, len(statements)))
            print(f"round {round_no} {variant:4} {key:10} app {app_ms:.3f} + db {db_ms:.3f}"
                  f" = {app_ms + db_ms:.3f} ms, {len(statements)} statements", flush=True)
    print("\nmedians (app + db = total ms CPU per request), new/base per round (median):")
    for key, _, _ in targets:
        base, new = results[(key, "base")], results[(key, "new")]
        ratios = [(n[0] + n[1]) / (b[0] + b[1]) for b, n in zip(base, new, strict=True)]

        def median(rows, i):
            return statistics.median(r[i] for r in rows)

        print(f"  {key:10} base {median(base, 0):.3f} + {median(base, 1):.3f}"
              f" = {median(base, 0) + median(base, 1):.3f} ({base[0][2]} st.)"
              f"  new {median(new, 0):.3f} + {median(new, 1):.3f}"
              f" = {median(new, 0) + median(new, 1):.3f} ({new[0][2]} st.)"
              f"  new/base {statistics.median(ratios):.3f}")
    app.extensions["tenantdesk.db"].dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
