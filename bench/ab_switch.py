"""In-process A/B of the org switch's statements, session 8 and 9 (not a test).

    .venv/bin/python bench/ab_switch.py --orgs 100 --rounds 8 --block 100
    .venv/bin/python bench/ab_switch.py --variants before,0042,s8,s9   # swaps the trigger

One process, one database (bench/seed.py's, migrated to 0042), blocks of switches alternating:

- before: the rotation as a data-modifying CTE in its own statement after the new org's
  context statement (four statements), "last active" written on every switch, and the audit
  chain trigger of 0021 (head upserted, then updated);
- 0042: ``app_switch_session`` packed into the context statement (three statements),
  "last active" at most once a minute, the head written once per event;
- s8 (session 8): and the session check and the target look-up each a transaction of its
  own (no BEGIN/COMMIT around them); the writes begin the new org's transaction, committed
  at the end of the request;
- s9 (session 9, the code as it is): the writes a transaction of their own too (one
  self-committing statement: no BEGIN, no COMMIT, no ORM transaction).

Every variant sends the parameters of ``service.switch_params``. "before" needs the audit
trigger of 0021: with it among the variants the trigger is swapped between blocks (CREATE OR
REPLACE as the owner; both write the same chain) and put back at the end; without it the
database's functions are left alone. CPU per switch, medians of the rounds: this process
(app), every PostgreSQL backend (db: the whole server, so others' work on a shared server
too) and this process's own backends only (own db: its connections are named by
application_name; the checkpointer, WAL writer and the like are left out).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

ROOT = Path(__file__).resolve().parents[1]

# The rotation as it was before 0042 (dashboard/auth/service.py at d978b82).
_OLD_ROTATE_SQL = """
    WITH old AS (
      UPDATE user_sessions SET revoked_at = now(), revoked_reason = 'switched org'
       WHERE id = :old AND user_id = :uid AND revoked_at IS NULL
      RETURNING sso_org_id, mfa_method, signed_in_at, reauth_at),
    new AS (
      INSERT INTO user_sessions (id, user_id, org_id, ip, user_agent, auth_method, sso_org_id,
                                 mfa_method, signed_in_at, reauth_at)
      SELECT :new, :uid, :org, :ip, :ua, :method, old.sso_org_id, old.mfa_method,
             old.signed_in_at, old.reauth_at
        FROM old
      RETURNING id),
    seen AS (
      UPDATE memberships SET last_active_at = now()
       WHERE org_id = :org AND user_id = :uid AND EXISTS (SELECT 1 FROM new)),
    audited AS (
      INSERT INTO audit_events (org_id, actor_user_id, actor, action, target, ip, user_agent,
       details)
      SELECT CAST(:audit_org_id AS uuid), CAST(:audit_actor_user_id AS uuid),
       CAST(:audit_actor AS text), CAST(:audit_action AS text), CAST(:audit_target AS text),
       CAST(:audit_ip AS text), CAST(:audit_user_agent AS text), CAST(:audit_details AS jsonb)
      FROM new)
    SELECT (SELECT count(*) FROM new) AS opened,
           CASE WHEN EXISTS (SELECT 1 FROM new) THEN app_set_last_org(:org) END AS last_org
"""


NAME = f"ab-switch-{os.getpid()}"  # application_name of this process's connections


def _seconds_of(pids) -> dict[int, float]:
    """CPU seconds of each of these processes (this machine's PostgreSQL backends)."""
    import psutil

    seconds = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        seconds[pid] = times.user + times.system
    return seconds


def _migration():
    path = ROOT / "migrations" / "versions" / "0042_switch_one_call.py"
    spec = importlib.util.spec_from_file_location("m0042", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rotation(service, write):
    """``service.rotate_session`` with its writes run by ``write(session, params)`` (the row
    it returns, or None): the variants differ in that statement only."""

    def rotate_session(session, user_id, old_session_id, auth, target, client, audit, idle):
        method = service.entry_method(target.org, auth, target.policies)
        if method is None:
            raise service.EntryRefused(target.org, auth, target.sso)
        new_id = uuid.uuid4()
        params = service.switch_params(
            user_id, old_session_id, new_id, target.org.org_id, client, method, audit, idle
        )
        row = write(session, params)
        if row is None or not row.opened:
            raise service.SessionEnded()
        return new_id, method

    return rotate_session


def _old_rotate(service, first_statement):
    """Before 0042: the rotation as a data-modifying CTE in its own statement."""
    return _rotation(service, lambda session, params: first_statement.row(
        session, _OLD_ROTATE_SQL, params))


def _in_transaction_rotate(service, tenancy):
    """Session 8's rotation: ``app_switch_session`` begins the new org's transaction, which
    the request commits at its end (BEGIN before it, COMMIT after)."""
    return _rotation(service, lambda session, params: tenancy.begin_with(
        session, service._SWITCH_SQL, params))


def main(argv: list[str] | None = None) -> int:
    import psycopg
    import seed
    from alternate import Meter
    from bench_profile import named_url
    from bench_switch import _csrf
    from cpu import _spent
    from in_process import backend_pids

    from dashboard import create_app, first_statement, provisioning, tenancy
    from dashboard.auth import service

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--block", type=int, default=100)
    parser.add_argument(
        "--variants", default="s8,s9", help="comma-separated: before, 0042, s8, s9"
    )
    parser.add_argument(
        "--callgrind",
        metavar="VARIANT",
        help="under valgrind --tool=callgrind --instr-atstart=no: instrument "
        "--block switches of VARIANT only (app instructions per switch)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("INSTANCE_PATH", tempfile.mkdtemp(prefix="ab-switch-"))
    admin, source = seed.admin_url()
    database = f"tenantdesk_bench_o{args.orgs}"
    dataset = seed.ensure_seeded(admin, database, seed.Scale().scaled_to(args.orgs))
    urls = provisioning.bootstrap(admin, database)
    migration = _migration()
    owner = psycopg.connect(provisioning.libpq_url(urls.owner), autocommit=True)
    meter = Meter(admin)

    # Named, so that "own db" counts this process's backends only: the server may be shared.
    named = dataclasses.replace(urls, runtime=named_url(urls.runtime, NAME))
    app = create_app(
        {
            "DATABASE_URLS": named,
            "INSTANCE_PATH": tempfile.mkdtemp(),
            "SECRET_KEY": "ab-switch",
            "TOKEN_KEY_SECRET": "ab-switch",
            "DB_POOL_SIZE": 4,
        }
    )
    client = app.test_client()
    response = client.post(
        "/login",
        data={
            "csrf_token": _csrf(client, "/login"),
            "email": dataset.logins[0],
            "password": dataset.password,
        },
    )
    assert response.status_code == 302, response.status_code
    slug_a, slug_b = dataset.switch_slugs[:2]
    csrf = _csrf(client)
    new_rotate = service.rotate_session
    new_target = service.switch_target

    def joined_target(session, slug, *, active_only=True, alone=False):
        return new_target(session, slug, active_only=active_only)  # in the check's transaction

    view = app.view_functions["auth.switch"]
    old_rotate = _old_rotate(service, first_statement)
    s8_rotate = _in_transaction_rotate(service, tenancy)
    # name: (rotation, audit trigger, target look-up, session check alone)
    known = {
        "before": (old_rotate, migration._OLD_LINK, joined_target, False),
        "0042": (s8_rotate, migration.LINK, joined_target, False),
        "s8": (s8_rotate, migration.LINK, new_target, True),
        "s9": (new_rotate, migration.LINK, new_target, True),
    }
    variants = {name: known[name] for name in args.variants.split(",")}
    # The trigger is written only when a variant needs another one than the database's.
    swap = any(trigger != migration.LINK for _r, trigger, _t, _a in variants.values())
    flip = {"i": 0}

    def one_switch():
        flip["i"] += 1
        slug = slug_a if flip["i"] % 2 else slug_b
        status = client.post("/switch", data={"csrf_token": csrf, "slug": slug}).status_code
        assert status == 303, status

    if args.callgrind:
        return _callgrind(
            args, known[args.callgrind], service, view, one_switch, owner, migration.LINK
        )
    figures = {name: {"app": [], "db": [], "own": [], "wal": []} for name in variants}

    def own_backends() -> dict[int, float]:
        return _seconds_of(backend_pids(owner, NAME))

    def wal_lsn() -> int:
        return owner.execute("SELECT pg_current_wal_insert_lsn() - '0/0'").fetchone()[0]

    try:
        for round_ in range(args.rounds + 1):
            for name, (rotate, trigger, target, alone) in variants.items():
                service.rotate_session, service.switch_target = rotate, target
                view.principal_only = alone
                if swap:
                    owner.execute(trigger)
                for _ in range(20):  # warm: plans, caches
                    one_switch()
                wal0 = wal_lsn()
                own0 = own_backends()
                app_ms, db_ms = meter.per_call(one_switch, args.block)
                own_s, _lost = _spent(own0, own_backends())
                wal = wal_lsn() - wal0
                if round_:  # round 0 warms both
                    figures[name]["app"].append(app_ms)
                    figures[name]["db"].append(db_ms)
                    figures[name]["own"].append(own_s * 1000 / args.block)
                    figures[name]["wal"].append(int(wal) / args.block)
    finally:
        service.rotate_session, service.switch_target = new_rotate, new_target
        view.principal_only = True
        if swap:
            owner.execute(migration.LINK)  # the database as migrated
        owner.close()
        app.extensions["tenantdesk.db"].dispose()
    print(f"{database} on {source}; {args.rounds} rounds x {args.block} switches per variant")
    print(
        f"{'variant':<8} {'app ms':>8} {'db ms':>8} {'total':>8} {'own db':>8} {'app+own':>8}"
        f" {'WAL B':>7}   (CPU per switch, medians of the rounds; db per round)"
    )
    for name, f in figures.items():
        app_ms, db_ms = statistics.median(f["app"]), statistics.median(f["db"])
        own_ms = statistics.median(f["own"])
        print(
            f"{name:<8} {app_ms:8.3f} {db_ms:8.3f} {app_ms + db_ms:8.3f} {own_ms:8.3f}"
            f" {app_ms + own_ms:8.3f} {statistics.median(f['wal']):7.0f}"
            f"   db {' '.join(f'{x:.2f}' for x in f['db'])}"
        )
    return 0


def _callgrind(args, variant, service, view, one_switch, owner, current_link) -> int:
    import subprocess

    rotate, trigger, target, alone = variant
    service.rotate_session, service.switch_target = rotate, target
    view.principal_only = alone
    swap = trigger != current_link
    if swap:
        owner.execute(trigger)
    for _ in range(30):
        one_switch()
    pid = str(os.getpid())
    subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
    for _ in range(args.block):
        one_switch()
    subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)
    if swap:
        owner.execute(current_link)  # the database as migrated
    print(f"{args.callgrind}: {args.block} switches instrumented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
