"""The set-up that the in-process scripts share (cpu_per_page.py, cpu_switch.py,
callgrind_pages.py, callgrind_switch.py, plan_choice_pages.py): their options, the measured
checkout's code first on the path, the real app on a seeded bench database
(bench_profile.bench_app), the requests they repeat, and the CPU of the app's own PostgreSQL
backends.

This module and bench_profile come from this checkout; whatever is imported after
``start`` (dashboard, bench/seed.py, bench/pages.py, ...) from ``--code``'s, so an older
checkout works too.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import bench_profile

THIS_CHECKOUT = Path(__file__).resolve().parent.parent


def arguments(
    argv,
    doc: str,
    *,
    database: str,
    requests: int,
    warmup: int | None = None,
    page: str | None = None,
    login: bool = False,
) -> argparse.Namespace:
    """The scripts' command line: ``--database``, ``--page`` (``page="one"``: a page key;
    ``"many"``: repeatable), ``--requests``, ``--warmup``, ``--login`` (the benchmark login
    that switches) and ``--code`` (the checkout measured; this one by default)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--database", default=database)
    if page == "one":
        parser.add_argument("--page", default="home", help="a page key of bench/pages.py")
    elif page == "many":
        parser.add_argument("--page", action="append", help="a page key of bench/pages.py")
    parser.add_argument("--requests", type=int, default=requests)
    if warmup is not None:
        parser.add_argument("--warmup", type=int, default=warmup)
    if login:
        parser.add_argument("--login", type=int, default=3, help="index of the benchmark login")
    parser.add_argument("--code", default=str(THIS_CHECKOUT))
    return parser.parse_args(argv)


def use_checkout(code: str, *, quiet: bool = False) -> None:
    """``code``'s dashboard package and bench modules first on the path; ``quiet``: no
    logging at all (its cost is not the page's)."""
    sys.path.insert(0, code)
    sys.path.insert(0, str(Path(code) / "bench"))
    if quiet:
        logging.disable(logging.CRITICAL)


def start(args, *, tag: str | None = None, quiet: bool = False):
    """(app, dataset, admin URL): ``--code``'s app on ``--database`` in this process. ``tag``
    names its runtime connections (application_name), so ``Backends`` can tell its backends
    apart."""
    use_checkout(args.code, quiet=quiet)
    return bench_profile.bench_app(args.database, application_name=tag)


def page_get(client, path: str):
    """One GET of the page, which must answer 200."""

    def get():
        response = client.get(path)
        assert response.status_code == 200, response.status_code

    return get


def switcher(app, dataset, login: int):
    """(the two switch orgs' slugs, ``switch``): benchmark login ``login`` signed in to the
    first; each ``switch()`` a POST /switch to the other org (every one a real switch:
    membership checked, old session revoked, new session row, audit row, new token), 303."""
    from bench_switch import _csrf

    slugs = dataset.switch_slugs[:2]
    client = bench_profile.sign_in(app, dataset.logins[login], dataset.password, f"/o/{slugs[0]}/")
    csrf = _csrf(client)
    flip = [0]

    def switch() -> None:
        flip[0] += 1
        slug = slugs[flip[0] % 2]  # the other org each time: a real switch
        response = client.post("/switch", data={"csrf_token": csrf, "slug": slug})
        assert response.status_code == 303, response.status_code

    return slugs, switch


def repeat(call, count: int) -> None:
    """``call()`` ``count`` times (under callgrind, inside ``sys.call_tracing``)."""
    for _ in range(count):
        call()


def backend_pids(connection, tag: str) -> list[int]:
    """The server processes of the connections named ``tag`` (application_name)."""
    rows = connection.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (tag,)
    ).fetchall()
    return [pid for (pid,) in rows]


class Backends:
    """CPU of the app's own PostgreSQL backends (those of its ``tag``), read from
    /proc/<pid>/schedstat: a server on this machine only."""

    def __init__(self, admin: str, tag: str) -> None:
        import psycopg

        from dashboard import provisioning

        self.tag = tag
        self.monitor = psycopg.connect(provisioning.libpq_url(admin), autocommit=True)

    def ns(self) -> int:
        return sum(
            int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
            for pid in backend_pids(self.monitor, self.tag)
        )


def cpu_per_call(call, count: int, backends: Backends) -> tuple[float, float]:
    """(app ms, db ms) of CPU per call over ``count`` calls of ``call()``: this process's
    (``os.times``: a round trip's system calls included) and its backends'."""
    db_before, before = backends.ns(), os.times()
    repeat(call, count)
    after, db_after = os.times(), backends.ns()
    app_ms = (after.user + after.system - before.user - before.system) / count * 1e3
    db_ms = (db_after - db_before) / count / 1e6
    return app_ms, db_ms


def print_cpu(code: str, what: str, app_ms: float, db_ms: float, per: str) -> None:
    print(
        f"{code} {what}: app {app_ms:.3f} + db {db_ms:.3f} = {app_ms + db_ms:.3f} ms CPU per {per}"
    )
