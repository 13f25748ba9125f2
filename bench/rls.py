"""RLS overhead, measured inside PostgreSQL: the members queries through the RLS context
(runtime role, ``app.user_id``/``app.org_id`` set, the policies add the org filter) vs. the
same queries as a superuser (RLS does not apply) with an explicit ``WHERE m.org_id = $1``,
the org id bound as a parameter the way the app would send it.

The members page (issue 5) sends its own ``m.org_id = $1`` too ("RLS decides too; this
helps the planner"), so the headline queries are the very same SQL on both sides and differ
only by the policies. One more pair shows the RLS filter alone against the explicit one.

Each side runs a plpgsql loop of many iterations and times it with clock_timestamp(), in two
ways: a cached plan (static SQL in plpgsql: what a prepared statement gets, as psycopg does
after 5 runs of a statement on a connection) and planned on every call (EXECUTE).
Rounds alternate between the two sides and the median is kept, so drift on a shared
machine hits both alike.
"""

from __future__ import annotations

import statistics

import psycopg

from dashboard import provisioning

# The members page's queries for the big org, as dashboard/members/service.py builds them
# (issue 20): one page of 50 (+1) in (sort_name, user_id) order from the index inside the org,
# each person looked up by key, the total from member_counts; and the same with a search,
# whose total counts the org's matching memberships.
_PAGE = ("SELECT m.user_id, m.role, m.created_at, m.last_active_at, m.sort_name"
         " FROM memberships m {where} ORDER BY m.sort_name, m.user_id LIMIT 51 OFFSET 0")
_SEARCH_PAGE = ("SELECT m.user_id, m.role, m.created_at, m.last_active_at, m.sort_name"
                " FROM memberships m WHERE m.search_key LIKE '%%ana%%' {and_where}"
                " ORDER BY m.sort_name, m.user_id LIMIT 51 OFFSET 0")
_PERSON = ("CROSS JOIN LATERAL (SELECT u.name, u.email FROM users u"
           " WHERE u.id = k.user_id OFFSET 0) p ORDER BY k.sort_name, k.user_id")
_LIST = ("SELECT k.user_id, p.name, p.email, k.role, k.created_at, k.last_active_at,"
         " (SELECT coalesce(sum(c.members), 0) FROM member_counts c {c_where}) AS total"
         f" FROM ({_PAGE}) k {_PERSON}")
_SEARCH = ("SELECT k.user_id, p.name, p.email, k.role, k.created_at, k.last_active_at,"
           " (SELECT count(*) FROM memberships s"
           " WHERE s.search_key LIKE '%%ana%%' {s_and_where}) AS total"
           f" FROM ({_SEARCH_PAGE}) k {_PERSON}")

# name -> (template, whether the RLS side sends the explicit org filter too, in the goal ratio)
QUERIES = {
    "members page (as the app sends it)": (_LIST, True, True),
    "members search (as the app sends it)": (_SEARCH, True, True),
    "members page, RLS filter alone": (_LIST, False, False),
}


def _sql(template: str, org: str | None) -> str:
    """The query through RLS (org None), or with an explicit filter on ``org``: an SQL
    expression, a bound parameter as the app would send it."""
    return template.format(
        where=f"WHERE m.org_id = {org}" if org else "",
        and_where=f"AND m.org_id = {org}" if org else "",
        c_where=f"WHERE c.org_id = {org}" if org else "",
        s_and_where=f"AND s.org_id = {org}" if org else "",
    ).replace("%%", "%")


def _loop(query: str, iterations: int, planned_each_call: bool, org_id: str | None) -> str:
    """A plpgsql loop timing ``query``; with ``org_id``, the query filters on v_org / $1."""
    if planned_each_call:
        statement = f"EXECUTE $q${_sql(query, '$1' if org_id else None)}$q$"
        statement += " USING v_org" if org_id else ""
    else:
        statement = "PERFORM " + _sql(query, "v_org" if org_id else None).removeprefix("SELECT ")
    return f"""
DO $bench$
DECLARE t0 timestamptz; v_org uuid := {f"'{org_id}'" if org_id else "NULL"};
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

    def _notice(self, diag) -> None:
        message = diag.message_primary or ""
        if message.startswith("bench_us="):
            self.last.append(float(message.removeprefix("bench_us=")))

    def _begin(self) -> None:
        if self.context:
            user_id, org_id = self.context
            self.conn.execute("SELECT set_config('app.user_id', %s, true),"
                              " set_config('app.org_id', %s, true)", (user_id, org_id))

    def rows(self, query: str) -> list:
        self._begin()
        rows = self.conn.execute(query.replace("%", "%%")).fetchall()
        self.conn.rollback()
        return rows

    def time(self, template: str, iterations: int, planned: bool, org_id=None) -> float:
        self._begin()
        self.conn.execute(_loop(template, iterations, planned, org_id))
        self.conn.rollback()
        return self.last.pop()

    def close(self) -> None:
        self.conn.close()


def measure(urls: provisioning.DatabaseUrls, org_id: str, user_id: str, *,
            seconds: float = 0.4, rounds: int = 3) -> dict:
    """Median per-call time on each side; each timed loop runs about ``seconds``."""
    through_rls = _Side(urls.runtime, (user_id, org_id))
    as_superuser = _Side(urls.admin, None)
    results: dict = {"queries": {}}

    def iterations(template: str, planned: bool, org: str | None = None) -> int:
        probe = through_rls.time(template, 5, planned, org)  # a calibration run
        return max(10, min(20_000, int(seconds * 1e6 / max(probe, 1.0))))

    try:
        gate_n = iterations("SELECT app_current_org()", False)
        results["gate_us"] = round(
            statistics.median(through_rls.time("SELECT app_current_org()", gate_n, False)
                              for _ in range(rounds)), 1)
        for name, (template, rls_where, in_goal) in QUERIES.items():
            rls_org = org_id if rls_where else None
            owner_sql = _sql(template, f"'{org_id}'")
            rls_sql = owner_sql if rls_where else _sql(template, None)
            same = through_rls.rows(rls_sql) == as_superuser.rows(owner_sql)
            entry: dict = {"same_rows": same, "in_goal_ratio": in_goal,
                           "rls_sql": _sql(template, "$1" if rls_where else None),
                           "owner_sql": _sql(template, "$1")}
            for mode, planned in (("cached_plan", False), ("planned_each_call", True)):
                n = iterations(template, planned, rls_org)
                rls, owner = [], []
                for _ in range(rounds):
                    rls.append(through_rls.time(template, n, planned, rls_org))
                    owner.append(as_superuser.time(template, n, planned, org_id))
                r, o = statistics.median(rls), statistics.median(owner)
                entry[mode] = {"rls_us": round(r, 1), "owner_us": round(o, 1),
                               "ratio": round(r / o, 3), "iterations": n}
            results["queries"][name] = entry
    finally:
        through_rls.close()
        as_superuser.close()
    for mode in ("cached_plan", "planned_each_call"):
        timed = [q[mode] for q in results["queries"].values() if q["in_goal_ratio"]]
        results[f"ratio_{mode}"] = round(
            sum(q["rls_us"] for q in timed) / sum(q["owner_us"] for q in timed), 3)
    results["rounds"] = rounds
    return results
