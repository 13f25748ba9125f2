"""RLS overhead, measured inside PostgreSQL: the members queries through the RLS context
(runtime role, ``app.user_id``/``app.org_id`` set, the policies add the org filter) vs. the
same queries as a superuser (RLS does not apply), the org id bound as a parameter the way the
app sends it.

The statements are the members page's own, taken from ``dashboard/members/service.py``
(``_list_sql``), so the benchmark follows the app. Since session 8 the app's statement has no
org filter of its own (each table's policy is the org filter); the superuser, whom RLS does
not filter, gets the same statement with ``org_id = $1`` written into every table reference
(``_list_sql(explicit_org=True)``): like for like, the policies' filter against the same
filter written out. The RLS side's statement is that one with the explicit filters replaced
by ``true`` (``_EXPLICIT_ORG``), which is the app's text exactly (``_app_sql`` checks it).
Two more pairs, outside the goal ratio, run the statements as the app sent them before
(explicit filter *and* the policies) through RLS.

Each side runs a plpgsql loop of many iterations and times it with clock_timestamp(), in three
ways: a cached plan (static SQL in plpgsql: what a prepared statement gets, as psycopg does
after 5 runs of a statement on a connection; the values are plpgsql variables, i.e. bound
parameters), a generic plan (the same, with ``plan_cache_mode = force_generic_plan`` on both
sides) and planned on every call (EXECUTE ... USING). Rounds alternate between the two
sides and the median is kept, so drift on a shared machine hits both alike.

Why the generic-plan mode (issue 20, session 8): in the cached mode PostgreSQL's plan cache
chooses, per side, between a generic plan (planned once) and a custom plan (planned again on
every call for the values bound), by comparing their estimated costs. The two sides' plans
differ (the policies add initplans), so each side may choose differently: e.g. one side
re-planned on every call and the other not, and the ratio then compares planning with
execution, not RLS with an explicit WHERE. ``plan_choice`` records what each side's plan
cache chose for each statement (from ``pg_prepared_statements``). The generic-plan mode
takes the choice away: both sides execute a plan made once, so the difference is what RLS
costs on every execution (the gate's initplans and their one-time filters); the
planned-each-call mode shows the other extreme (RLS also pays for planning its policies).
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import psycopg

from dashboard import provisioning
from dashboard.members import service as members

SEARCH = "ana"  # the benchmark's search (load.py sends the same)

# The app's parameters -> (plpgsql variable, its declaration). The first page of 50 (+1 to
# know whether more follow), as the members page sends it: its LIMIT is in the SQL text and
# the first page has no OFFSET (dashboard/members/service.py, ``_keyset``); ``limit`` and
# ``offset`` are here for the statements of other pages.
_PARAMETERS = {
    "org_id": ("v_org", "uuid"),
    "limit": ("v_limit", "integer"),
    "offset": ("v_offset", "bigint"),
    "pattern": ("v_pattern", "varchar"),
    # No total kept for the search (search_totals, migration 0056): the statement counts, on
    # both sides, on every execution.
    "known_revision": ("v_known_revision", "uuid"),
    "known_total": ("v_known_total", "bigint"),
}
_VALUES = {"limit": "51", "offset": "0", "pattern": f"'{members._like(SEARCH)}'",
           "known_revision": "NULL", "known_total": "0"}


_EXPLICIT_ORG = re.compile(r"\b\w+\.org_id = CAST\(:org_id AS uuid\)")


def _app_sql(search: bool) -> str:
    """The members statement (first page, no role filter) with the explicit org filter in
    each table reference: the owner side's. Without them (``_EXPLICIT_ORG`` -> ``true``), it is
    exactly what the app sends."""
    shape = (search, False, False, "first", members.PER_PAGE_DEFAULT + 1)
    with_org = members._list_sql(*shape, text_ids=True, explicit_org=True).text
    as_sent = members._list_sql(*shape, text_ids=True).text
    assert _EXPLICIT_ORG.sub("true", with_org) == as_sent, "bench/rls.py no longer matches the app"
    return with_org


# name -> (SQL with :name parameters and explicit org filters, whether the RLS side keeps the
# explicit org filters, in the goal ratio). The owner side always keeps them.
QUERIES = {
    "members page (as the app sends it)": (_app_sql(False), False, True),
    "members search (as the app sends it)": (_app_sql(True), False, True),
    "members page, explicit org filter too (before session 8)": (_app_sql(False), True, False),
    "members search, explicit org filter too (before session 8)": (_app_sql(True), True, False),
}


def _sql(template: str, explicit_org: bool, style: str, org_id: str = "") -> str:
    """``template`` with its parameters as plpgsql variables (style "var"), as $n (style "n"),
    or as literals (style "literal", for one plain run of ``org_id``); without
    ``explicit_org``, the explicit org filters are dropped (RLS alone)."""
    if not explicit_org:
        template = _EXPLICIT_ORG.sub("true", template)
    names = [n for n in _PARAMETERS if f":{n}" in template]

    def bind(match: re.Match) -> str:
        name = match.group(1)
        if style == "var":
            return _PARAMETERS[name][0]
        if style == "n":
            return f"${names.index(name) + 1}"
        return _VALUES.get(name, f"'{org_id}'")

    return re.sub(r"(?<!:):(\w+)", bind, template)


# mode -> (EXECUTE the statement each call, plan_cache_mode for the loop)
MODES = {
    "cached_plan": (False, "auto"),
    "generic_plan": (False, "force_generic_plan"),
    "planned_each_call": (True, "auto"),
}


def _loop(
    query: str, iterations: int, planned_each_call: bool, org_id: str, explicit_org: bool
) -> str:
    """A plpgsql loop timing ``query`` with the org id (and the page's values) bound."""
    if not explicit_org:
        query = _EXPLICIT_ORG.sub("true", query)
    names = [n for n in _PARAMETERS if f":{n}" in query]
    if planned_each_call:
        statement = f"EXECUTE $q${_sql(query, explicit_org, 'n')}$q$"
        if names:
            statement += " USING " + ", ".join(_PARAMETERS[n][0] for n in names)
    else:
        statement = "PERFORM " + _sql(query, explicit_org, "var").removeprefix("SELECT ")
    values = {**_VALUES, "org_id": f"'{org_id}'"}
    declare = " ".join(f"{var} {kind} := {values[n]};" for n, (var, kind) in _PARAMETERS.items())
    return f"""
DO $bench$
DECLARE t0 timestamptz; {declare}
BEGIN
  FOR i IN 1..5 LOOP {statement}; END LOOP;
  t0 := clock_timestamp();
  FOR i IN 1..{iterations} LOOP {statement}; END LOOP;
  RAISE NOTICE 'bench_us=%', extract(epoch FROM clock_timestamp() - t0) * 1e6 / {iterations};
END
$bench$"""


class _Side:
    def __init__(self, url: str, context: tuple[str, str] | None) -> None:
        self.conn = psycopg.connect(provisioning.libpq_url(url))
        self.context = context
        self.last: list[float] = []
        self.conn.add_notice_handler(self._notice)
        pid = self.conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        self.conn.rollback()
        self.schedstat = Path(f"/proc/{pid}/schedstat")  # a server on this machine only

    def _notice(self, diag) -> None:
        message = diag.message_primary or ""
        if message.startswith("bench_us="):
            self.last.append(float(message.removeprefix("bench_us=")))

    def _cpu_ns(self) -> int | None:
        """The backend's time on a CPU, in ns (exact, unlike cpu_times' 10 ms ticks)."""
        try:
            return int(self.schedstat.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _begin(self, plan_cache_mode: str = "auto") -> None:
        self.conn.execute(f"SET LOCAL plan_cache_mode = {plan_cache_mode}")
        if self.context:
            user_id, org_id = self.context
            self.conn.execute(
                "SELECT set_config('app.user_id', %s, true), set_config('app.org_id', %s, true)",
                (user_id, org_id),
            )

    def rows(self, query: str) -> list:
        self._begin()
        rows = self.conn.execute(query).fetchall()  # no parameters: sent as written
        self.conn.rollback()
        return rows

    def plan_choice(self, template: str, explicit_org: bool, org_id: str, runs: int = 10) -> str:
        """What the plan cache chose for ``template`` after ``runs`` executions of it as a
        prepared statement: "generic", "custom" (planned on each call) or a mix."""
        if not explicit_org:
            template = _EXPLICIT_ORG.sub("true", template)
        values = {**_VALUES, "org_id": f"'{org_id}'"}
        arguments = [values[name] for name in _PARAMETERS if f":{name}" in template]
        query = _sql(template, True, "n")
        self._begin()
        self.conn.execute(f"PREPARE rls_plan_choice AS {query}")
        execute = "EXECUTE rls_plan_choice" + (f" ({', '.join(arguments)})" if arguments else "")
        for _ in range(runs):
            self.conn.execute(execute)
        generic, custom = self.conn.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE name = 'rls_plan_choice'"
        ).fetchone()
        self.conn.execute("DEALLOCATE rls_plan_choice")
        self.conn.rollback()
        return (
            "generic"
            if not custom
            else "custom"
            if not generic
            else (f"{generic} generic, {custom} custom")
        )

    def time(
        self, template: str, iterations: int, mode: str, org_id: str, explicit_org: bool = True
    ) -> tuple[float, float | None]:
        """(wall µs, backend CPU µs or None) per call of ``template``, in ``mode`` (MODES)."""
        planned, plan_cache_mode = MODES[mode]
        self._begin(plan_cache_mode)
        before = self._cpu_ns()
        self.conn.execute(_loop(template, iterations, planned, org_id, explicit_org))
        after = self._cpu_ns()
        self.conn.rollback()
        cpu = None
        if before is not None and after is not None:
            cpu = (after - before) / 1e3 / (iterations + 5)  # the 5 warm-up calls included
        return self.last.pop(), cpu

    def close(self) -> None:
        self.conn.close()


def _median(values: list) -> float | None:
    return None if None in values else statistics.median(values)


def measure(
    urls: provisioning.DatabaseUrls,
    org_id: str,
    user_id: str,
    *,
    seconds: float = 0.4,
    rounds: int = 3,
) -> dict:
    """Median per-call time on each side; each timed loop runs about ``seconds``.

    Two clocks: wall time inside the loop (clock_timestamp(), as since issue 10) and, when
    the server runs on this machine, each backend's own CPU time (/proc/<pid>/schedstat),
    which other processes on a busy machine disturb far less. The headline ratios
    (``ratio_*``) and ``gate_us`` are by CPU when it is known (``clock``), else by wall time;
    ``wall_ratio_*`` are always by wall time.
    """
    through_rls = _Side(urls.runtime, (user_id, org_id))
    as_superuser = _Side(urls.admin, None)
    results: dict = {"queries": {}}

    def iterations(template: str, mode: str, explicit_org: bool = True) -> int:
        probe, _ = through_rls.time(template, 5, mode, org_id, explicit_org)  # calibration
        return max(10, min(20_000, int(seconds * 1e6 / max(probe, 1.0))))

    gate = "SELECT app_current_org()"
    try:
        gate_n = iterations(gate, "cached_plan")
        calls = [through_rls.time(gate, gate_n, "cached_plan", org_id) for _ in range(rounds)]
        results["gate_wall_us"] = round(statistics.median(c[0] for c in calls), 1)
        gate_cpu = _median([c[1] for c in calls])
        results["gate_cpu_us"] = None if gate_cpu is None else round(gate_cpu, 1)
        for name, (template, rls_where, in_goal) in QUERIES.items():
            owner_sql = _sql(template, True, "literal", org_id)
            rls_sql = _sql(template, rls_where, "literal", org_id)
            same = through_rls.rows(rls_sql) == as_superuser.rows(owner_sql)
            entry: dict = {
                "same_rows": same,
                "in_goal_ratio": in_goal,
                "rls_sql": _sql(template, rls_where, "n"),
                "owner_sql": _sql(template, True, "n"),
            }
            entry["plan_choice"] = {
                "rls": through_rls.plan_choice(template, rls_where, org_id),
                "owner": as_superuser.plan_choice(template, True, org_id),
            }
            for mode in MODES:
                n = iterations(template, mode, rls_where)
                rls, owner = [], []
                for _ in range(rounds):
                    rls.append(through_rls.time(template, n, mode, org_id, rls_where))
                    owner.append(as_superuser.time(template, n, mode, org_id))
                r, o = statistics.median(x[0] for x in rls), statistics.median(x[0] for x in owner)
                rc, oc = _median([x[1] for x in rls]), _median([x[1] for x in owner])
                entry[mode] = {
                    "rls_us": round(r, 1),
                    "owner_us": round(o, 1),
                    "ratio": round(r / o, 3),
                    "iterations": n,
                }
                if rc is not None and oc is not None:
                    entry[mode].update(
                        rls_cpu_us=round(rc, 1),
                        owner_cpu_us=round(oc, 1),
                        cpu_ratio=round(rc / oc, 3),
                    )
            results["queries"][name] = entry
    finally:
        through_rls.close()
        as_superuser.close()
    by_cpu = results["gate_cpu_us"] is not None and all(
        "cpu_ratio" in q[m] for q in results["queries"].values() for m in MODES
    )
    results["clock"] = "backend CPU" if by_cpu else "wall"
    results["gate_us"] = results["gate_cpu_us"] if by_cpu else results["gate_wall_us"]
    for mode in MODES:
        timed = [q[mode] for q in results["queries"].values() if q["in_goal_ratio"]]
        wall = sum(q["rls_us"] for q in timed) / sum(q["owner_us"] for q in timed)
        results[f"wall_ratio_{mode}"] = round(wall, 3)
        results[f"ratio_{mode}"] = (
            round(sum(q["rls_cpu_us"] for q in timed) / sum(q["owner_cpu_us"] for q in timed), 3)
            if by_cpu
            else round(wall, 3)
        )
    results["rounds"] = rounds
    return results
