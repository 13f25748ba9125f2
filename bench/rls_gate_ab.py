"""In-process A/B of the gate (issue 20): 0038's ``app_current_org()`` against the live one
(0043's text probe), installed alternately in one seeded benchmark database, so drift on a
shared machine hits both alike.

    python bench/rls_gate_ab.py --database tenantdesk_bench_o10000 [--rounds 4]

Prints, for each gate, the backend CPU per call of ``SELECT app_current_org()`` for a member
(from /proc/<pid>/schedstat: the server must run on this machine) and bench/rls.py's ratios
in each plan mode, medians over the rounds. It leaves the live gate installed (the one of
the newest migration that defines it, taken from the migrations' own text).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import psycopg

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import rls  # noqa: E402
import seed  # noqa: E402

from dashboard import provisioning  # noqa: E402
from dashboard.migrate import revision_module  # noqa: E402
from dashboard.provisioning import DEFINER_ROLE  # noqa: E402


def _gates() -> dict[str, str]:
    module = revision_module("0043_gate_text_probe")
    return {"0038": module._gate_dispatch().GATE, "0043": module.gate_sql()}


def _install(admin: psycopg.Connection, sql: str) -> None:
    admin.execute(sql)
    admin.execute(f"ALTER FUNCTION app_current_org() OWNER TO {DEFINER_ROLE}")


def _gate_cpu_us(
    runtime: psycopg.Connection, schedstat: Path, org: str, user: str, calls: int = 10_000
) -> float:
    runtime.execute(
        "SELECT set_config('app.user_id', %s, true), set_config('app.org_id', %s, true)",
        (user, org),
    )
    before = int(schedstat.read_text().split()[0])
    runtime.execute(
        f"DO $$ BEGIN FOR i IN 1..{calls} LOOP PERFORM app_current_org(); END LOOP; END $$"
    )
    after = int(schedstat.read_text().split()[0])
    runtime.rollback()
    return (after - before) / 1e3 / calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="a database bench/seed.py filled")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--rls-seconds", type=float, default=0.3)
    args = parser.parse_args(argv)
    admin_url, _ = seed.admin_url()
    dataset = seed.read_dataset(admin_url, args.database)
    if dataset is None:
        parser.error(f"{args.database} is not a seeded benchmark database")
    urls = provisioning.bootstrap(admin_url, args.database)
    org = dataset.big_org["id"]
    admin = psycopg.connect(provisioning.libpq_url(urls.admin), autocommit=True)
    user = str(
        admin.execute("SELECT id FROM users WHERE email = %s", (dataset.logins[1],)).fetchone()[0]
    )
    runtime = psycopg.connect(provisioning.libpq_url(urls.runtime))
    pid = runtime.execute("SELECT pg_backend_pid()").fetchone()[0]
    runtime.rollback()
    schedstat = Path(f"/proc/{pid}/schedstat")
    gates = _gates()
    gate_us: dict[str, list[float]] = {name: [] for name in gates}
    runs: dict[str, list[dict]] = {name: [] for name in gates}
    try:
        for _ in range(args.rounds):
            for name, sql in gates.items():
                _install(admin, sql)
                gate_us[name].append(_gate_cpu_us(runtime, schedstat, org, user))
                runs[name].append(rls.measure(urls, org, user, seconds=args.rls_seconds, rounds=1))
    finally:
        _install(admin, gates["0043"])
        runtime.close()
        admin.close()
    for name in gates:
        print(
            f"gate {name}: {statistics.median(gate_us[name]):.1f} us per call"
            f" (rounds: {', '.join(f'{x:.1f}' for x in gate_us[name])})"
        )
        for mode in rls.MODES:
            ratios = [r[f"ratio_{mode}"] for r in runs[name]]
            print(f"  ratio_{mode}: {statistics.median(ratios):.3f} (rounds: {ratios})")
        for query in runs[name][0]["queries"]:
            per_mode = {
                mode: "{:.1f} / {:.1f}".format(
                    statistics.median(r["queries"][query][mode]["rls_cpu_us"] for r in runs[name]),
                    statistics.median(
                        r["queries"][query][mode]["owner_cpu_us"] for r in runs[name]
                    ),
                )
                for mode in rls.MODES
            }
            print(
                f"  {query}: RLS / owner us {per_mode};"
                f" plan cache chose {runs[name][0]['queries'][query]['plan_choice']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
