"""The whole benchmark in one bounded run: `make bench` (or `.venv/bin/python bench/run.py`).

1. seeds (or reuses) two databases, 10,000 orgs and 100 orgs, with the same big org;
2. serves Tenantdesk with gunicorn on loopback against each, signs in real users through the
   login form and drives the pages with wrk: latency at 1 connection (≈ server time) and
   requests/s, p50/p99 under load;
3. the ceilings in the same run: a trivial Flask app on the same gunicorn settings, and
   `pgbench -S` on the same PostgreSQL;
4. RLS overhead of the members queries inside PostgreSQL;
5. statements per request, and a py-spy profile of the org home and members pages;
6. any bench/bench_*.py with a `run(ctx)` function (see bench/README.md).

Prints a table and writes bench/results.json. Figures are meant as ratios within one run:
the machine is small and shared.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import secrets
import statistics
import sys
import time
import traceback
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cpu
import load
import pages
import seed
from cpu import CpuMeter
from server import Gunicorn, serve

from dashboard import provisioning

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results.json"


@dataclass
class Settings:
    orgs: int = 10_000
    small_orgs: int = 100
    duration: int = 12  # seconds of load per page and database, split over the rounds
    latency_duration: int = 2  # seconds at one connection, per round
    connections: int = 8
    wrk_threads: int = 2
    profile: bool = True
    reseed: bool = False
    gunicorn: Gunicorn = field(default_factory=Gunicorn)
    rounds: int = 3
    extras: str = "all"  # bench/bench_*.py modules to run: "all", "none" or names

    @property
    def round_seconds(self) -> int:
        return max(2, -(-self.duration // self.rounds))


@dataclass
class Context:
    """What a bench/bench_*.py `run(ctx)` gets: a served, seeded app and the helpers."""

    base_url: str
    urls: provisioning.DatabaseUrls
    dataset: seed.Dataset
    settings: Settings
    users: list[load.SignedIn]

    def wrk_get(self, path: str, *, connections: int | None = None,
                seconds: float | None = None) -> dict:
        """GET ``path`` as the signed-in users under load; p50/p99 ms, req/s, errors."""
        return load.wrk(self.base_url, "pages.lua", [path, *[u.cookie for u in self.users]],
                        seconds=seconds or self.settings.round_seconds,
                        connections=connections or self.settings.connections,
                        threads=min(self.settings.wrk_threads,
                                    connections or self.settings.connections))


def log(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------------------- phases


@dataclass
class Target:
    """One served database: its gunicorn, signed-in users and page paths."""

    dataset: seed.Dataset
    urls: provisioning.DatabaseUrls
    base: str = ""
    master: int = 0
    readers: list[load.SignedIn] = field(default_factory=list)
    huge_readers: list[load.SignedIn] = field(default_factory=list)  # active org: the huge one
    switchers: list[load.SignedIn] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    runs: dict = field(default_factory=dict)  # page key -> list of (alone, loaded) per round
    meter: CpuMeter | None = None


def page_round(base: str, path: str, users: list[load.SignedIn], s: Settings,
               meter: CpuMeter) -> tuple:
    cookies = [u.cookie for u in users]
    alone = load.wrk(base, "pages.lua", [path, *cookies], seconds=s.latency_duration,
                     connections=1, threads=1)
    with meter:
        loaded = load.wrk(base, "pages.lua", [path, *cookies], seconds=s.round_seconds,
                          connections=s.connections, threads=min(s.wrk_threads, s.connections))
    loaded["cpu"] = meter.per_request(loaded["requests"])
    return alone, loaded


def switch_round(target: Target, s: Settings) -> tuple:
    """POST /switch; every answer carries a new token, which the next run starts from."""
    users = target.switchers

    def run(connections: int, seconds: float) -> dict:
        args = list(target.dataset.switch_slugs)
        for user in users:
            args += [user.cookie, user.csrf]
        result = load.wrk(target.base, "switch.lua", args, seconds=seconds,
                          connections=connections, threads=connections)
        for pair, cookie in result.pop("cookies", []):
            users[pair] = load.SignedIn(users[pair].email, cookie, users[pair].csrf)
        return result

    alone = run(1, s.latency_duration)
    with target.meter:
        loaded = run(min(len(users), s.connections), s.round_seconds)
    loaded["cpu"] = target.meter.per_request(loaded["requests"])
    return alone, loaded


def summarise(runs: list[tuple]) -> dict:
    """Median over rounds of each figure; the rounds are kept too."""
    def med(which: int, key: str) -> float:
        return round(statistics.median(r[which][key] for r in runs), 2)

    keys = ("rps", "p50_ms", "p90_ms", "p99_ms")
    out = {
        "one_connection": {k: med(0, k) for k in keys},
        "loaded": {k: med(1, k) for k in keys},
        "rounds": [{"one_connection": a, "loaded": b} for a, b in runs],
    }
    out["one_connection"]["errors"] = sum(a["errors"] for a, _ in runs)
    out["loaded"]["errors"] = sum(b["errors"] for _, b in runs)
    out["loaded"]["connections"] = runs[0][1]["connections"]
    cpus = [b["cpu"] for _, b in runs if "cpu" in b]
    if cpus:
        # Medians of what every round measured; a round in which a process ended (a backend
        # closed mid-round: its CPU is missing) says so, and the count is summed.
        measured = [k for k in cpus[0] if k != "processes_ended" and all(k in c for c in cpus)]
        out["cpu_ms_per_request"] = {
            k: round(statistics.median(c[k] for c in cpus), 3) for k in measured}
        ended = sum(c.get("processes_ended", 0) for c in cpus)
        if ended:
            out["cpu_ms_per_request"]["processes_ended"] = ended
    if "switched" in runs[0][1]:
        out["switched"] = sum(a.get("switched", 0) + b.get("switched", 0) for a, b in runs)
        out["refused"] = sum(a.get("refused", 0) + b.get("refused", 0) for a, b in runs)
    return out


def statements_per_request(app, dataset: seed.Dataset, paths: dict[str, str]) -> dict:
    """Count SQL statements per page in-process (same listener as the test)."""
    from dashboard.db import recording_statements

    client = app.test_client()
    form = client.get("/login").get_data(as_text=True)
    token = load._CSRF.search(form).group(1)
    client.post("/login", data={"csrf_token": token, "email": dataset.logins[1],
                                "password": dataset.password})
    counts = {}
    engine = app.extensions["tenantdesk.db"].engine
    for key, path in paths.items():
        client.get(path)  # warm-up
        with recording_statements(engine) as seen:
            status = client.get(path).status_code
        counts[key] = len(seen) if status == 200 else f"status {status}"
    return counts


def _slug(dataset: seed.Dataset, page: pages.Page) -> str | None:
    org = dataset.huge_org if page.slug == "huge" else dataset.big_org
    return org["slug"] if org else None


def readers_for(target: Target, key: str) -> list[load.SignedIn]:
    page = next((p for p in pages.PAGES if p.key == key), None)
    return target.huge_readers if page is not None and page.slug == "huge" else target.readers


def prepare(target: Target) -> dict:
    """Find the pages in the app's URL map and count their statements (in-process)."""
    from dashboard import create_app

    app = create_app({"DATABASE_URLS": target.urls, "DB_POOL_SIZE": 2})
    try:
        for page in pages.PAGES:
            path, note = pages.path_for(app.url_map, page, _slug(target.dataset, page))
            target.figures[page.key] = {"label": page.label, "endpoint": note}
            if path is None:
                target.figures[page.key]["not_available"] = note
            else:
                target.paths[page.key] = path
                target.figures[page.key]["path"] = path
        return statements_per_request(app, target.dataset, target.paths)
    finally:
        app.extensions["tenantdesk.db"].dispose()


def sign_in_all(target: Target) -> None:
    home = f"/o/{target.dataset.big_org['slug']}/"  # earlier runs may have left another org
    users = [load.sign_in(target.base, email, target.dataset.password, home)
             for email in target.dataset.logins]
    half = len(users) // 2
    target.readers, target.switchers = users[:half], users[half:]
    if target.dataset.huge_org:  # their own sessions, whose active org is the huge one
        huge = f"/o/{target.dataset.huge_org['slug']}/"
        target.huge_readers = [load.sign_in(target.base, email, target.dataset.password, huge)
                               for email in target.dataset.logins[:half]]
    for key, path in list(target.paths.items()):
        readers = readers_for(target, key)
        status = load.get_status(target.base, path, readers[0]) if readers else 0
        if status != 200:
            target.figures[key]["not_available"] = f"answered {status}"
            del target.paths[key]


def run_profiles(target: Target, s: Settings) -> dict:
    import profiling

    out = {}
    for key in ("home", "members"):
        if key not in target.paths:
            continue
        cookies = [u.cookie for u in target.readers]
        seconds = max(6, s.round_seconds)

        def drive(path=target.paths[key], seconds=seconds, cookies=cookies):
            load.wrk(target.base, "pages.lua", [path, *cookies], seconds=seconds,
                     connections=s.connections, threads=s.wrk_threads)

        out[key] = profiling.record(target.master, seconds, key, drive)
        for kind, summary in out[key].items():
            log(f"  profile {key} ({kind}): {summary.get('layers_pct', summary)}")
    return out


def run_extras(ctx: Context) -> dict:
    """bench/bench_*.py modules with a run(ctx) -> dict function, each in its own try."""
    out = {}
    wanted = ctx.settings.extras
    for path in sorted(BENCH.glob("bench_*.py")):
        name = path.stem
        if wanted != "all" and name not in wanted.split(","):
            continue
        try:
            module = importlib.import_module(name)
            if not hasattr(module, "run"):
                out[name] = {"skipped": "no run(ctx) function; run it on its own"}
                continue
            started = time.perf_counter()
            out[name] = module.run(ctx)
            log(f"  {name}: done in {time.perf_counter() - started:.0f} s")
        except Exception as exc:  # one broken script must not lose the others' figures
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
            log(f"  {name}: failed\n{traceback.format_exc(limit=3)}")
    return out


def run_pages(admin: str, datasets: list[seed.Dataset], s: Settings, results: dict) -> None:
    """Serve every dataset and the trivial app at once; each round measures every page on
    every dataset in turn, so drift on a shared machine spreads over all of them alike."""
    targets = [Target(d, provisioning.bootstrap(admin, d.database)) for d in datasets]
    queries = {t.dataset.database: prepare(t) for t in targets}
    trivial_runs: list[tuple] = []
    db_pid = cpu.postmaster_pid(admin)
    with ExitStack() as stack:
        trivial_base, trivial_pid = stack.enter_context(
            serve("trivial_app:app", s.gunicorn, chdir=BENCH, ready_path="/", name="trivial"))
        trivial_meter = CpuMeter(trivial_pid, None)
        for t in targets:
            env = {"DATABASE_URL": t.urls.runtime, "MIGRATION_DATABASE_URL": t.urls.owner,
                   "DB_POOL_SIZE": str(s.gunicorn.threads + 1)}
            t.base, t.master = stack.enter_context(
                serve("wsgi:app", s.gunicorn, env, name=t.dataset.database))
            t.meter = CpuMeter(t.master, db_pid)
            sign_in_all(t)
            log(f"  {t.dataset.database} ({t.dataset.scale['orgs']:,} orgs) on {t.base}: "
                f"{len(t.dataset.logins)} users signed in")
        for r in range(s.rounds):
            log(f"Round {r + 1} of {s.rounds}")
            trivial_runs.append(page_round(trivial_base, "/", [load.SignedIn("", "-", "")], s,
                                           trivial_meter))
            log(f"  trivial route: {_brief(trivial_runs[-1])}")
            # The datasets take turns going first, so a page's growth ratio is not always
            # measured in the same order (the second run of a pair meets warmer caches).
            in_turn = targets if r % 2 == 0 else targets[::-1]
            for page in pages.PAGES:
                for t in in_turn:
                    if page.key in t.paths:
                        runs = t.runs.setdefault(page.key, [])
                        runs.append(page_round(t.base, t.paths[page.key],
                                               readers_for(t, page.key), s, t.meter))
                        log(f"  {page.key} @ {t.dataset.scale['orgs']} orgs: "
                            f"{_brief(runs[-1])}")
            for t in in_turn:
                runs = t.runs.setdefault("switch", [])
                runs.append(switch_round(t, s))
                log(f"  switch @ {t.dataset.scale['orgs']} orgs: {_brief(runs[-1])}")
        primary = targets[0]
        if s.profile:
            log("Profiles (py-spy)")
            results["profile"] = run_profiles(primary, s)
        log("Extra bench/bench_*.py")
        results["extra"] = run_extras(Context(primary.base, primary.urls, primary.dataset, s,
                                              primary.readers))
    results["ceilings"]["trivial"] = {"label": "trivial Flask route (ceiling)", "path": "/",
                                      **summarise(trivial_runs)}
    for t in targets:
        for key, runs in t.runs.items():
            entry = t.figures.setdefault(key, {"label": "org switch (POST, new token)",
                                               "path": "POST /switch",
                                               "client": "wrk; Lua follows Set-Cookie, one user"
                                                         " per connection"})
            entry.update(summarise(runs))
            entry["statements_per_request"] = queries[t.dataset.database].get(key)
        results["pages"][t.dataset.database] = t.figures


def _brief(run: tuple) -> str:
    alone, loaded = run
    errors = alone["errors"] + loaded["errors"]
    return (f"alone p50 {alone['p50_ms']} ms; {loaded['rps']:.0f} req/s, p50 "
            f"{loaded['p50_ms']} / p99 {loaded['p99_ms']} ms"
            + (f"; {errors} ERRORS" if errors else ""))


# ---------------------------------------------------------------------------- reporting


def _cpu_total(entry: dict) -> float | None:
    cpu_ = entry.get("cpu_ms_per_request", {})
    return cpu_.get("total_ms", cpu_.get("app_ms"))


def _paired_cpu_ratio(big: dict, small: dict) -> float | None:
    """Median over rounds of big/small CPU per request, each pair measured back to back in
    the same round: drift between rounds (other users of the machine) cancels out."""
    ratios = []
    for a, b in zip(big.get("rounds", []), small.get("rounds", []), strict=False):
        ca, cb = a["loaded"].get("cpu", {}), b["loaded"].get("cpu", {})
        ta, tb = ca.get("total_ms", ca.get("app_ms")), cb.get("total_ms", cb.get("app_ms"))
        if ta and tb:
            ratios.append(ta / tb)
    return round(statistics.median(ratios), 3) if ratios else None


def derive(results: dict, big: str, small: str) -> None:
    trivial = results["ceilings"]["trivial"]
    trivial_rps, trivial_cpu = trivial["loaded"]["rps"], _cpu_total(trivial)
    growth, fraction = {}, {}
    for key, entry in results["pages"][big].items():
        if "loaded" not in entry:
            continue
        page_cpu = _cpu_total(entry)
        fraction[key] = {
            "throughput": round(entry["loaded"]["rps"] / trivial_rps, 3),
            "cpu": round(trivial_cpu / page_cpu, 3) if trivial_cpu and page_cpu else None,
        }
        other = results["pages"].get(small, {}).get(key, {})
        if "loaded" in other:
            other_cpu = _cpu_total(other)
            paired = _paired_cpu_ratio(entry, other)
            growth[key] = {
                "p50_alone": round(entry["one_connection"]["p50_ms"]
                                   / other["one_connection"]["p50_ms"], 3),
                "p50_loaded": round(entry["loaded"]["p50_ms"] / other["loaded"]["p50_ms"], 3),
                "throughput": round(other["loaded"]["rps"] / entry["loaded"]["rps"], 3),
                "cpu": paired,
                "cpu_of_medians": (round(page_cpu / other_cpu, 3)
                                   if page_cpu and other_cpu else None),
            }
    results["fraction_of_trivial"] = fraction
    results["growth_100_to_10000"] = growth
    results["goals"] = goals(results, big, fraction, growth)


def goals(results: dict, big: str, fraction: dict, growth: dict) -> list[dict]:
    """Each goal of issue 10 against this run. Throughput goals are judged on requests/s
    (the issue's wording); the CPU-based fraction is shown beside it as the steadier figure."""
    pages_big = results["pages"][big]
    rls = results.get("rls", {})

    def goal(name, value, ok, target, also=None):
        out = {"goal": name, "target": target, "value": value,
               "met": None if ok is None else bool(ok)}
        if also is not None:
            out["also"] = also
        return out

    def share(key):
        return fraction.get(key, {}).get("throughput")

    members, home = share("members"), share("home")
    usage = pages_big.get("usage", {}).get("one_connection", {}).get("p50_ms")
    worst = max((max(g["p50_alone"], g["throughput"]) for g in growth.values()), default=None)
    worst_cpu = max((g["cpu"] for g in growth.values() if g.get("cpu")), default=None)
    ratio = rls.get("ratio_cached_plan")
    return [
        goal("members page throughput vs trivial route", members,
             None if members is None else members >= 0.40, ">= 0.40",
             {"by CPU": fraction.get("members", {}).get("cpu")}),
        goal("org home throughput vs trivial route", home,
             None if home is None else home >= 0.50, ">= 0.50",
             {"by CPU": fraction.get("home", {}).get("cpu")}),
        goal("RLS overhead on the members queries (RLS / explicit WHERE)", ratio,
             None if ratio is None else ratio <= 1.10, "<= 1.10",
             {"generic plan": rls.get("ratio_generic_plan"),
              "planned each call": rls.get("ratio_planned_each_call")}),
        goal("growth 100 -> 10,000 orgs, worst page (p50 alone, req/s)", worst,
             None if worst is None else worst <= 1.25, "<= 1.25", {"by CPU": worst_cpu}),
        goal("usage chart (365 days) p50 server time, ms", usage,
             None if usage is None else usage <= 20, "<= 20"),
        goal("constant statements per page", results.get("statements_per_request"), None,
             "asserted by tests/db/test_queries_per_page.py"),
    ]


def table(results: dict, big: str, small: str) -> str:
    rows = [("page", "alone p50", "req/s", "p50", "p99", "CPU ms app+db", "of trivial",
             "growth", "SQL/req")]

    def cpu_cell(entry):
        c = entry.get("cpu_ms_per_request", {})
        return f"{c.get('app_ms', '')}+{c['db_ms']}" if "db_ms" in c else str(c.get("app_ms", ""))

    trivial = results["ceilings"]["trivial"]
    rows.append((trivial["label"], f"{trivial['one_connection']['p50_ms']}",
                 f"{trivial['loaded']['rps']:.0f}", f"{trivial['loaded']['p50_ms']}",
                 f"{trivial['loaded']['p99_ms']}", cpu_cell(trivial), "1 / 1", "", ""))
    for key, entry in results["pages"][big].items():
        if "loaded" not in entry:
            rows.append((entry["label"], entry.get("not_available", "n/a"), "", "", "", "", "",
                         "", ""))
            continue
        one, loaded = entry["one_connection"], entry["loaded"]
        g = results["growth_100_to_10000"].get(key)
        f = results["fraction_of_trivial"].get(key, {})
        rows.append((
            entry["label"], f"{one['p50_ms']}", f"{loaded['rps']:.0f}", f"{loaded['p50_ms']}",
            f"{loaded['p99_ms']}", cpu_cell(entry),
            f"{f.get('throughput', 0):.3f} / {f.get('cpu') or 0:.3f}",
            f"{g['p50_alone']:.2f} / {g['throughput']:.2f} / {g.get('cpu') or 0:.2f}"
            if g else "",
            str(entry.get("statements_per_request") or ""),
        ))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    load_ = results["load"]
    pg = results["ceilings"].get("pgbench_S", {})
    lines += [
        "",
        f"Times in ms, medians of {load_['rounds']} rounds. 'alone' = 1 connection (about the"
        f" server time); req/s, p50, p99 and CPU at {load_['connections']} connections,"
        f" {load_['seconds_per_round']} s per round.",
        "'of trivial' = req/s share / CPU share of the trivial route's;"
        f" growth {small} -> {big} = p50 alone / req/s / CPU per request (CPU: median of"
        " the per-round ratios, the two datasets measured back to back, in turns).",
        f"pgbench -S: {pg.get('tps')} tps, {pg.get('latency_avg_ms')} ms average,"
        f" {pg.get('clients')} clients.",
    ]
    rls = results.get("rls", {})
    if rls:
        clock = rls.get("clock", "wall")
        wall = ""
        if "wall_ratio_cached_plan" in rls:
            wall = (f" (wall clock: {rls['wall_ratio_cached_plan']}x,"
                    f" {rls['wall_ratio_planned_each_call']}x)")
        lines.append(f"RLS overhead, members queries (RLS / explicit WHERE as superuser), by"
                     f" {clock} time: cached plan {rls['ratio_cached_plan']}x, generic plan"
                     f" {rls.get('ratio_generic_plan', '-')}x, planned each call"
                     f" {rls['ratio_planned_each_call']}x{wall}; app_current_org()"
                     f" {rls['gate_us']} us per call.")
    for g in results["goals"]:
        state = {True: "met", False: "NOT met", None: "-"}[g["met"]]
        also = f" ({', '.join(f'{k} {v}' for k, v in g['also'].items())})" if g.get("also") else ""
        lines.append(f"Goal: {g['goal']}: {g['value']}{also}; target {g['target']}: {state}")
    return "\n".join(lines)


# Issue 20: CPU ms per request (app + PostgreSQL), medians in one run, against targets.
# key -> (label, figure before issue 20 from `make bench`, target: a number or "x<key>" for a
# multiple of another row's figure)
ISSUE20 = [
    ("whoami", "minimal signed-in request (whoami JSON)", "4.3", 1.5),
    ("home", "org home", "20.1", 3.0),
    ("members", "members page, 5,000 members", "32.9", 4.0),
    ("members_search", "members search, 5,000 members", "34.6", 5.0),
    ("members_huge", "members page, 100,000-member org", "-", ("members", 1.2)),
    ("usage_page", "usage page, 365 days, four charts", "~68", 6.0),
    ("usage", "usage chart data, 365 days", "~13.5", 2.5),
    ("switch", "org switch", "~2.8", 2.0),
]


def issue20_limit(target, totals: dict[str, float]) -> tuple[float | None, str]:
    """(limit in CPU ms or None, how to print it) of one ISSUE20 target: a number, or
    (key, factor) for a multiple of another row's total in ``totals``."""
    if not isinstance(target, tuple):
        return target, f"<= {target}"
    base = totals.get(target[0])
    limit = base * target[1] if base is not None else None
    return limit, f"<= {target[1]} x {target[0]}" + (
        f" ({limit:.2f})" if limit is not None else "")


def issue20_table(results: dict, big: str, small: str) -> str:
    """Every row of issue 20's table, met or not, with throughput against the trivial route."""
    pages_big = results["pages"][big]
    fraction, growth = results["fraction_of_trivial"], results["growth_100_to_10000"]
    rows = [("page", "before", "now app+db", "total", "target", "met", "req/s",
             "of trivial req/s", "of trivial CPU", "growth CPU")]
    totals: dict[str, float] = {}
    verdicts = []
    for key, label, before, target in ISSUE20:
        entry = pages_big.get(key, {})
        total = _cpu_total(entry) if "loaded" in entry else None
        if total is not None:
            totals[key] = total
        limit, target_text = issue20_limit(target, totals)
        met = None if total is None or limit is None else total <= limit
        verdicts.append((label, met))
        c = entry.get("cpu_ms_per_request", {})
        f, g = fraction.get(key, {}), growth.get(key, {})
        rows.append((
            label, before,
            f"{c.get('app_ms', '')}+{c.get('db_ms', '')}" if c else entry.get(
                "not_available", "n/a"),
            f"{total:.2f}" if total is not None else "", target_text,
            {True: "met", False: "NOT met", None: "-"}[met],
            f"{entry['loaded']['rps']:.0f}" if "loaded" in entry else "",
            f"{f['throughput']:.3f}" if f.get("throughput") is not None else "",
            f"{f['cpu']:.3f}" if f.get("cpu") is not None else "",
            f"{g['cpu']:.2f}" if g.get("cpu") is not None else "",
        ))
    rls = results.get("rls", {})
    ratio = rls.get("ratio_cached_plan")
    rows.append(("RLS overhead, members queries (vs explicit WHERE as owner)", "1.26x",
                 f"{ratio}x" if ratio else "", "", "<= 1.05x",
                 "-" if ratio is None else ("met" if ratio <= 1.05 else "NOT met"),
                 "", "", "", ""))
    worst = max((g["cpu"] for g in growth.values() if g.get("cpu")), default=None)
    rows.append(("growth 100 -> 10,000 orgs, every page (worst, CPU)", "up to 3.8x",
                 f"{worst:.2f}x" if worst else "", "", "<= 1.1x",
                 "-" if worst is None else ("met" if worst <= 1.1 else "NOT met"),
                 "", "", "", ""))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    trivial = results["ceilings"]["trivial"]
    la = results["machine"]
    lines += [
        "",
        "Issue 20: CPU ms per request of gunicorn + PostgreSQL at 8 connections, medians of"
        f" {results['load']['rounds']} rounds; 'before' = the issue's figures (make bench"
        " before issue 20). Trivial Flask route in the same run:"
        f" {trivial['loaded']['rps']:.0f} req/s, {_cpu_total(trivial)} ms CPU per request."
        f" Load average {', '.join(f'{x:.1f}' for x in la['load_average_at_start'])} at start,"
        f" {', '.join(f'{x:.1f}' for x in la.get('load_average_at_end', ()))} at end.",
    ]
    results["issue20"] = [{"row": label, "met": met} for label, met in verdicts]
    return "\n".join(lines)


README = BENCH / "README.md"
FIGURES_START, FIGURES_END = "<!-- figures:start -->", "<!-- figures:end -->"


def update_readme(results: dict, rendered: str) -> None:
    """Put this run's table between the markers of bench/README.md (the rest is prose)."""
    text = README.read_text() if README.exists() else ""
    if FIGURES_START not in text or FIGURES_END not in text:
        return
    head, rest = text.split(FIGURES_START, 1)
    _, tail = rest.split(FIGURES_END, 1)
    load_start = ", ".join(f"{x:.1f}" for x in results["machine"]["load_average_at_start"])
    block = (f"{FIGURES_START}\nRun of {results['date']}: `{results['command'].strip()}` on"
             f" {results['machine']['cores']} cores, {results['machine']['database']}; load"
             f" average at start {load_start} (other engineers' test suites share the"
             f" machine). Full data: `bench/results.json`.\n\n```\n{rendered}\n```\n"
             f"{FIGURES_END}")
    README.write_text(head + block + tail)


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    s = Settings()
    parser = argparse.ArgumentParser(description="Tenantdesk benchmarks (see bench/README.md)")
    parser.add_argument("--orgs", type=int, default=s.orgs)
    parser.add_argument("--small-orgs", type=int, default=s.small_orgs)
    parser.add_argument("--duration", type=int, default=s.duration,
                        help="seconds of load per page and database, over all rounds")
    parser.add_argument("--latency-duration", type=int, default=s.latency_duration,
                        help="seconds at one connection per page and round")
    parser.add_argument("--rounds", type=int, default=s.rounds)
    parser.add_argument("--connections", type=int, default=s.connections)
    parser.add_argument("--workers", type=int, default=s.gunicorn.workers)
    parser.add_argument("--threads", type=int, default=s.gunicorn.threads)
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--reseed", action="store_true", help="seed again even if present")
    parser.add_argument("--rls-seconds", type=float, default=0.4,
                        help="seconds per timed RLS loop")
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--extras", default="all",
                        help='bench/bench_*.py modules to run: "all", "none" or a comma list'
                             " (e.g. bench_profile)")
    args = parser.parse_args(argv)
    s = Settings(orgs=args.orgs, small_orgs=args.small_orgs, duration=args.duration,
                 latency_duration=args.latency_duration, connections=args.connections,
                 profile=not args.no_profile, reseed=args.reseed,
                 gunicorn=Gunicorn(args.workers, args.threads), rounds=args.rounds,
                 extras=args.extras)
    started = time.perf_counter()
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
    os.environ.setdefault("INSTANCE_PATH", str(BENCH / "out" / "instance-app"))
    load.ensure_wrk()
    admin, source = seed.admin_url()
    log(f"Tenantdesk benchmark on {source}; gunicorn {s.gunicorn.describe()}")

    log("Seeding")
    scale = seed.Scale(orgs=s.orgs)
    big = seed.ensure_seeded(admin, f"tenantdesk_bench_o{s.orgs}", scale, log, s.reseed)
    small = seed.ensure_seeded(admin, f"tenantdesk_bench_o{s.small_orgs}",
                               scale.scaled_to(s.small_orgs), log, s.reseed)

    results: dict = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "database": source, "load_average_at_start": os.getloadavg()},
        "gunicorn": s.gunicorn.describe(),
        "load": {"tool": load.wrk_version(), "connections": s.connections,
                 "wrk_threads": s.wrk_threads, "rounds": s.rounds,
                 "seconds_per_round": s.round_seconds,
                 "latency_seconds_per_round": s.latency_duration},
        "datasets": {d.database: asdict(d) for d in (big, small)},
        "pages": {}, "ceilings": {},
    }
    log("Pages")
    run_pages(admin, [big, small], s, results)
    log("Ceiling: pgbench -S")
    import ceilings

    results["ceilings"]["pgbench_S"] = ceilings.pgbench_select_only(
        admin, embedded=source.startswith("embedded"), seconds=s.duration,
        clients=s.connections, threads=s.wrk_threads)
    log("RLS overhead (inside PostgreSQL)")
    import rls

    urls = provisioning.bootstrap(admin, big.database)
    import psycopg

    with psycopg.connect(provisioning.libpq_url(urls.admin)) as conn:
        user_id = conn.execute("SELECT id FROM users WHERE email = %s",
                               (big.logins[1],)).fetchone()[0]
    results["rls"] = rls.measure(urls, big.big_org["id"], str(user_id),
                                 seconds=args.rls_seconds, rounds=3)
    results["statements_per_request"] = {
        k: v.get("statements_per_request") for k, v in results["pages"][big.database].items()
        if "loaded" in v}
    results["machine"]["load_average_at_end"] = os.getloadavg()
    results["seconds"] = round(time.perf_counter() - started)
    derive(results, big.database, small.database)
    rendered = (issue20_table(results, big.database, small.database) + "\n\n"
                + table(results, big.database, small.database))
    print()
    print(rendered)
    Path(args.output).write_text(json.dumps(results, indent=2, default=str) + "\n")
    if Path(args.output) == RESULTS:
        update_readme(results, rendered)
    log(f"\nWrote {args.output} in {results['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
