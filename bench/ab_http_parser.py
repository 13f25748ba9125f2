"""A/B of gunicorn settings under real gunicorn (issue 20, session 10): CPU per request of
the workers (and PostgreSQL backends) for the trivial route and signed-in pages, with each
variant served by a gunicorn of its own and measured in alternating rounds.

    BENCH_DATABASE_URL=... .venv/bin/python bench/ab_http_parser.py --rounds 6 \\
        --variant 'python=--http-parser python' --variant 'fast=--http-parser fast'

A variant is ``NAME=EXTRA GUNICORN ARGS`` (bench/server.py's settings plus these). Every
variant's servers run at once; each round measures every page on every variant in turn
(the order flips each round), wrk with 8 connections as ``make bench``.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import cpu  # noqa: E402
import load  # noqa: E402
import seed  # noqa: E402
from cpu import CpuMeter  # noqa: E402
from server import Gunicorn, serve  # noqa: E402

from dashboard import provisioning  # noqa: E402


@dataclass(frozen=True)
class Variant(Gunicorn):
    extra: tuple[str, ...] = ()

    def args(self) -> list[str]:
        return [*super().args(), *self.extra]


def parse_variant(text: str) -> tuple[str, Variant]:
    name, _, extra = text.partition("=")
    return name, Variant(extra=tuple(shlex.split(extra)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="tenantdesk_bench_o10000")
    parser.add_argument("--pages", default="trivial,whoami,home")
    parser.add_argument("--variant", action="append", default=[])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=int, default=4)
    args = parser.parse_args(argv)
    variants = dict(
        parse_variant(v)
        for v in args.variant or ["python=--http-parser python", "fast=--http-parser fast"]
    )
    pages = args.pages.split(",")
    admin, _ = seed.admin_url()
    dataset = seed.read_dataset(admin, args.database)
    assert dataset, f"{args.database} is not seeded"
    urls = provisioning.bootstrap(admin, args.database)
    slug = dataset.big_org["slug"]
    paths = {"trivial": "/", "whoami": f"/o/{slug}/whoami.json", "home": f"/o/{slug}/"}
    db_pid = cpu.postmaster_pid(admin)
    env = {
        "DATABASE_URL": urls.runtime,
        "MIGRATION_DATABASE_URL": urls.owner,
        "DB_POOL_SIZE": str(Gunicorn().threads + 1),
    }
    figures: dict[tuple[str, str], list[dict]] = {}
    with ExitStack() as stack:
        servers = {}
        for name, settings in variants.items():
            if "trivial" in pages:
                base, pid = stack.enter_context(
                    serve(
                        "trivial_app:app",
                        settings,
                        chdir=BENCH,
                        ready_path="/",
                        name=f"ab-trivial-{name}",
                    )
                )
                servers[name, "trivial"] = (base, CpuMeter(pid, None), [load.SignedIn("", "-", "")])
            if set(pages) - {"trivial"}:
                base, pid = stack.enter_context(
                    serve("wsgi:app", settings, env, name=f"ab-app-{name}")
                )
                users = [
                    load.sign_in(base, email, dataset.password, f"/o/{slug}/")
                    for email in dataset.logins[:4]
                ]
                for page in set(pages) - {"trivial"}:
                    servers[name, page] = (base, CpuMeter(pid, db_pid), users)
        order = list(variants)
        for r in range(args.rounds):
            for page in pages:
                for name in order:
                    base, meter, users = servers[name, page]
                    with meter:
                        run = load.wrk(
                            base,
                            "pages.lua",
                            [paths[page], *[u.cookie for u in users]],
                            seconds=args.seconds,
                            connections=8,
                            threads=2,
                        )
                    assert run["errors"] == 0, run
                    run["cpu"] = meter.per_request(run["requests"])
                    figures.setdefault((name, page), []).append(run["cpu"])
                    print(
                        f"round {r + 1} {page:8} {name:10} {run['rps']:8.0f} req/s  {run['cpu']}",
                        flush=True,
                    )
            order.reverse()
    print("\nmedians (ms CPU per request; every round in order)")
    for page in pages:
        for name in variants:
            runs = figures[name, page]
            app = [c["app_ms"] for c in runs]
            line = f"{page:8} {name:10} app {statistics.median(app):.3f} {app}"
            if "db_ms" in runs[0]:
                db = [c["db_ms"] for c in runs]
                line += f"  db {statistics.median(db):.3f}"
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
