"""Where each page's CPU goes, in-process (issue 20): app and PostgreSQL CPU per request, the
share of Jinja2, SQLAlchemy, psycopg and the gate, and the top functions.

    .venv/bin/python bench/bench_profile.py                 # the seeded 10,000-org database
    .venv/bin/python bench/bench_profile.py --requests 300 --pages home,members

The real app (create_app, runtime role, RLS on) in this process, driven by Flask's test client
as a benchmark login; no network, no gunicorn. Per page:

- CPU per request: this process's CPU (``time.process_time``: the app plus the test client,
  which is small) and the PostgreSQL server's (psutil, every backend), over ``--requests``
  requests after a warm-up. Steadier than wall time on a shared machine, since it counts
  only our own cycles.
- the gate: ``app_current_org()`` calls and their own time from ``pg_stat_user_functions``
  (``track_functions = 'all'`` is set on the benchmark database only).
- a cProfile run over the same requests: own time grouped by layer (the file of the
  function), and the top functions.

`make bench` runs it through ``run(ctx)`` on the served database; results in results.json
under ``extra.bench_profile`` and in bench/README.md.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import pstats
import sys
import time
from collections import Counter
from contextlib import ExitStack
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

LAYERS = [  # first match on the function's file wins
    ("psycopg", ("psycopg/", "psycopg_pool/", "psycopg_binary")),
    ("SQLAlchemy", ("sqlalchemy/",)),
    ("Jinja2", ("jinja2/", "templates/", "markupsafe/")),
    ("forms/CSRF/signing", ("flask_wtf/", "wtforms/", "itsdangerous/", "hmac.py", "hashlib")),
    ("Flask/Werkzeug", ("flask/", "werkzeug/", "flask_login/", "flask_limiter/", "limits/")),
    ("Tenantdesk", ("dashboard/",)),
    ("test client", ("test.py", "testing.py")),
]


def _layer(filename: str) -> str:
    for label, markers in LAYERS:
        if any(m in filename for m in markers):
            return label
    return "Python (stdlib, C calls)"


def sign_in(app, email: str, password: str, org_path: str | None = None):
    import load

    client = app.test_client()
    form = client.get("/login").get_data(as_text=True)
    token = load._CSRF.search(form).group(1)
    answer = client.post("/login", data={"csrf_token": token, "email": email,
                                         "password": password})
    assert answer.status_code == 302, answer.status_code
    if org_path:
        client.get(org_path)  # through the switch: this org becomes the token's
    return client


def bench_app(database: str, *, application_name: str | None = None):
    """(app, dataset, admin URL): the real app in this process (create_app, runtime role, RLS
    on) on a seeded bench database, as the in-process scripts (callgrind_pages.py,
    callgrind_switch.py, cpu_per_page.py) measure it. ``application_name`` names the runtime
    role's connections, so their backends can be told apart."""
    import dataclasses

    import seed

    from dashboard import create_app, provisioning

    admin, _source = seed.admin_url()
    dataset = seed.read_dataset(admin, database)
    urls = provisioning.bootstrap(admin, database)
    if application_name:
        urls = dataclasses.replace(urls, runtime=named_url(urls.runtime, application_name))
    return create_app({"DATABASE_URLS": urls, "DB_POOL_SIZE": 2}), dataset, admin


def named_url(url: str, application_name: str) -> str:
    """``url`` whose connections carry ``application_name``: their backends can be told
    apart in pg_stat_activity (bench/in_process.py's ``backend_pids``)."""
    from dashboard.provisioning import sqlalchemy_url

    named = sqlalchemy_url(url).update_query_dict({"application_name": application_name})
    return named.render_as_string(hide_password=False)


def page_client(app, dataset, page_key: str):
    """(signed-in test client, path) of a page of bench/pages.py: the 100,000-member org's
    pages as its owner, the others in the 5,000-member org, as bench/run.py drives them."""
    import pages

    page = next(p for p in pages.PAGES if p.key == page_key)
    huge = page.slug == "huge"
    org = dataset.huge_org if huge else dataset.big_org
    login = dataset.logins[2] if huge else dataset.logins[1]
    client = sign_in(app, login, dataset.password, f"/o/{org['slug']}/")
    path, _note = pages.path_for(app.url_map, page, org["slug"])
    return client, path


def measure(urls, dataset, pages_wanted=None, requests: int = 200, profile_requests: int = 100,
            db_pid: int | None = None, log=print, top: int = 0) -> dict:
    import pages
    import psutil
    import psycopg

    from dashboard import create_app, provisioning
    from dashboard.db import recording_statements

    app = create_app({"DATABASE_URLS": urls, "DB_POOL_SIZE": 2})
    admin = psycopg.connect(provisioning.libpq_url(urls.admin), autocommit=True)
    out = {}
    try:
        admin.execute(f'ALTER DATABASE "{dataset.database}" SET track_functions = \'all\'')
        app.extensions["tenantdesk.db"].dispose()  # new connections pick the setting up
        clients = {"big": sign_in(app, dataset.logins[1], dataset.password,
                                  f"/o/{dataset.big_org['slug']}/")}
        if dataset.huge_org:
            clients["huge"] = sign_in(app, dataset.logins[2], dataset.password,
                                      f"/o/{dataset.huge_org['slug']}/")
        db = psutil.Process(db_pid) if db_pid else None

        def db_cpu() -> float:
            if db is None:
                return 0.0
            total = 0.0
            for p in [db, *db.children()]:
                try:
                    t = p.cpu_times()
                    total += t.user + t.system
                except psutil.Error:
                    pass
            return total

        targets = []  # (key, path, request function, expected status)
        for page in pages.PAGES:
            if pages_wanted and page.key not in pages_wanted:
                continue
            org = dataset.huge_org if page.slug == "huge" else dataset.big_org
            if org is None or page.slug not in clients:
                continue
            path, note = pages.path_for(app.url_map, page, org["slug"])
            if path is None:
                out[page.key] = {"not_available": note}
                continue
            targets.append((page.key, path, partial(clients[page.slug].get, path), 200))
        if not pages_wanted or "switch" in pages_wanted:
            targets.append(("switch", "POST /switch", _switcher(app, dataset), 303))
        database = app.extensions["tenantdesk.db"]
        for key, path, call, expected in targets:
            for _ in range(max(10, requests // 10)):  # warm-up: pool, plans, templates
                status = call().status_code
            if status != expected:
                out[key] = {"not_available": f"answered {status}"}
                continue
            with ExitStack() as stack:  # the shared database and any dedicated one
                seen = [stack.enter_context(recording_statements(e))
                        for e in database.engines()]
                call()
            statements = [s for each in seen for s in each]
            admin.execute("SELECT pg_stat_reset()")
            time.sleep(0.6)  # the stats collector's flush interval (PG 15+: at commit, ~1 s)
            app_0, db_0, wall_0 = time.process_time(), db_cpu(), time.perf_counter()
            for _ in range(requests):
                call()
            app_s, db_s = time.process_time() - app_0, db_cpu() - db_0
            wall_s = time.perf_counter() - wall_0
            time.sleep(1.1)
            gate = admin.execute(
                "SELECT coalesce(sum(calls), 0), coalesce(sum(self_time), 0)"
                " FROM pg_stat_user_functions WHERE funcname = 'app_current_org'").fetchone()
            per = 1000 / requests
            entry = {
                "path": path,
                "app_cpu_ms": round(app_s * per, 3),
                "db_cpu_ms": round(db_s * per, 3) if db else None,
                "wall_ms": round(wall_s * per, 3),
                # cursor executions; psycopg's BEGIN and COMMIT come on top
                "statements_per_request": len(statements),
                # of which on a dedicated org's own database (a second transaction)
                "dedicated_statements": sum(len(each) for each in seen[1:]),
                # the shared database's gate only (a dedicated database has its own)
                "gate_calls_per_request": round(gate[0] / requests, 2),
                "gate_ms_per_request": round(float(gate[1]) / requests, 3),
            }
            if db:
                entry["total_cpu_ms"] = round(entry["app_cpu_ms"] + entry["db_cpu_ms"], 3)
            stats = total = None
            if profile_requests:
                stats, total = _profile(call, profile_requests, top, entry)
            out[key] = entry
            log(f"  {key}: app {entry['app_cpu_ms']} + db {entry['db_cpu_ms']} ms CPU,"
                f" {len(statements)} statements (BEGIN/COMMIT not counted),"
                f" gate {entry['gate_calls_per_request']} calls"
                f" {entry['gate_ms_per_request']} ms; {entry.get('layers_pct', '')}")
            if top and stats is not None:
                _print_top(stats, total, profile_requests, top, log)
    finally:
        admin.execute(f'ALTER DATABASE "{dataset.database}" RESET track_functions')
        admin.close()
        app.extensions["tenantdesk.db"].dispose()
    return out


def _profile(call, requests: int, top: int, entry: dict):
    """cProfile over ``requests`` more calls: own CPU by layer and the top functions go into
    ``entry``; returns (stats, total own seconds) for ``_print_top``."""
    profiler = cProfile.Profile(time.process_time)  # CPU, not waiting on PostgreSQL
    profiler.enable()
    for _ in range(requests):
        call()
    profiler.disable()
    stats = pstats.Stats(profiler)
    layers: Counter = Counter()
    functions = []
    total = 0.0
    for (filename, line, name), (_, calls, own, _cum, _) in stats.stats.items():
        layers[_layer(filename)] += own
        total += own
        functions.append((own, calls, f"{name} ({_short(filename)}:{line})"))
    functions.sort(reverse=True)
    entry["layers_pct"] = {k: round(100 * v / total, 1) for k, v in layers.most_common()}
    entry["top_functions"] = [
        {"function": f, "calls_per_request": round(c / requests, 1),
         "own_pct": round(100 * own / total, 1)}
        for own, c, f in functions[:max(top, 8)]]
    return stats, total


def _print_top(stats, total: float, requests: int, top: int, log) -> None:
    """The ``top`` functions by own CPU, then by cumulative CPU (what calls what costly)."""
    rows = [(own, cum, calls, f"{name} ({_short(filename)}:{line})")
            for (filename, line, name), (_, calls, own, cum, _) in stats.stats.items()]
    for label, index in (("own", 0), ("cumulative", 1)):
        log(f"    top {top} by {label} CPU (us per request, calls per request, own %):")
        for own, cum, calls, where in sorted(rows, key=lambda r: r[index], reverse=True)[:top]:
            log(f"    {1e6 * own / requests:8.1f} {1e6 * cum / requests:8.1f}"
                f" {calls / requests:6.1f} {100 * own / total:5.1f}%  {where}")


def _switcher(app, dataset):
    """POST /switch between the two switch orgs, as its own benchmark login (a new token each
    time; the test client keeps the newest cookie)."""
    import load

    client = sign_in(app, dataset.logins[3], dataset.password)
    csrf = load._CSRF.search(client.get("/switcher").get_data(as_text=True)).group(1)
    slugs = itertools.cycle(dataset.switch_slugs[:2])
    return lambda: client.post("/switch", data={"csrf_token": csrf, "slug": next(slugs)})


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/dashboard/", "/templates/"):
        if marker in filename:
            return marker.strip("/") + "/" + filename.split(marker, 1)[1] \
                if marker != "site-packages/" else filename.split(marker, 1)[1]
    return Path(filename).name


def run(ctx) -> dict:
    import cpu

    return measure(ctx.urls, ctx.dataset, db_pid=cpu.postmaster_pid(ctx.urls.admin))


def main(argv=None) -> int:
    import cpu
    import seed

    from dashboard import provisioning

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="tenantdesk_bench_o10000")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--profile-requests", type=int, default=100)
    parser.add_argument("--pages", default="", help="comma-separated page keys (bench/pages.py)")
    parser.add_argument("--top", type=int, default=0,
                        help="also print the N costliest functions of each page (own, cumulative)")
    args = parser.parse_args(argv)
    admin, source = seed.admin_url()
    dataset = seed.read_dataset(admin, args.database)
    if dataset is None:
        raise SystemExit(f"{args.database} is not seeded: run bench/seed.py or make bench")
    urls = provisioning.bootstrap(admin, args.database)
    print(f"In-process profile on {args.database} ({source})")
    measure(urls, dataset, [p for p in args.pages.split(",") if p], args.requests,
            args.profile_requests, cpu.postmaster_pid(admin), top=args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
