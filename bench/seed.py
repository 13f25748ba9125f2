"""Scale data for the benchmarks, written straight into PostgreSQL with COPY.

    python bench/seed.py                       # 10,000 orgs, 200,000 users, 1,000,000 memberships
    python bench/seed.py --orgs 100 --database tenantdesk_bench_o100

The database is created with dashboard.provisioning (roles, bootstrap) and migrated to every
head, so the real schema, grants and RLS policies are in place. Rows are loaded as the
superuser (RLS does not apply to it) with foreign-key triggers off for the load only: the
generator builds consistent rows, and checking 1 M foreign keys one by one would dominate
the run. Indexes (and primary keys or unique constraints no foreign key depends on) are
dropped around COPY and rebuilt in one pass each; then VACUUM ANALYZE.

Where the server comes from: BENCH_DATABASE_URL, else DATABASE_URL (both an admin URL, a
superuser), else the embedded PostgreSQL under bench/out/instance.

The shape of the data: one "big" org (slug ``bench-big``) with --big-org-members members;
the other memberships spread over the other orgs with a long tail (most orgs small, a few
large). Users 0..15 are the benchmark logins: members of the big org (user 0 its owner, the
rest admins) and of orgs ``bench-a`` and ``bench-b``, between which the switch benchmark
flips. Every user has the password BENCH_PASSWORD (one argon2 hash, reused).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from dashboard import migrate, provisioning

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
BENCH_PASSWORD = "bench-password-1"  # noqa: S105 - published benchmark credential
SEED_VERSION = 3  # bump when the generator changes shape: existing databases are reseeded
# 3: memberships.person_name/person_email written by COPY (migration 0040), so a run measures
#    a freshly loaded table, not one whose every row the migration's backfill rewrote.
BENCH_USERS = 16
BIG_SLUG, SWITCH_SLUGS = "bench-big", ("bench-a", "bench-b")
HUGE_SLUG = "bench-huge"  # the 100,000-member org (issue 20): org index len(SWITCH_SLUGS) + 1
HUGE_INDEX = len(SWITCH_SLUGS) + 1
CHUNK = 50_000  # rows per COPY write

_FIRST = ("Ada Alan Bea Cy Dana Eli Fran Gus Hana Ivan Jo Kai Lena Milo Nia Omar Pia Quinn Ravi "
          "Sara Tom Uma Vic Wen Xia Yusuf Zoe Aria Ben Cleo Dev Ezra Fay Gia Hugo Iris Jude Kira "
          "Leo Maya Nico Oona Pablo Rosa Sol Tara Ugo Vera Will Yara")
_LAST = ("Abe Baker Chen Diaz Evans Fox Garcia Hill Ito Jones Kim Lopez Moore Nakamura Okafor "
         "Patel Quist Rossi Smith Tanaka Ueda Varga Wang Xu Young Zhou Berg Costa Dubois Eklund "
         "Fischer Gupta Horvat Ivanova Jensen Kowalski Larsen Meyer Novak Olsen Petrov Rahman "
         "Silva Torres Urban Vogel Weber Yilmaz Ziegler Adler")
FIRST, LAST = _FIRST.split(" "), _LAST.split(" ")


@dataclass
class Scale:
    orgs: int = 10_000
    users: int = 200_000
    memberships: int = 1_000_000
    big_org_members: int = 5_000
    events: int = 10_000_000
    big_org_events: int = 200_000
    seed: int = 10
    huge_org_members: int = 100_000  # one more org, for the members page at 100,000 members

    def scaled_to(self, orgs: int) -> Scale:
        """Same per-org shape with fewer (or more) orgs: the big org stays identical."""
        f = orgs / self.orgs
        rest_members = round((self.memberships - self.big_org_members) * f)
        return Scale(
            orgs=orgs,
            users=max(round(self.users * f), self.big_org_members + BENCH_USERS),
            memberships=self.big_org_members + max(rest_members, 2 * (orgs - 1)),
            big_org_members=self.big_org_members,
            events=self.big_org_events + round((self.events - self.big_org_events) * f),
            big_org_events=self.big_org_events,
            seed=self.seed,
            huge_org_members=0,  # the growth ratio compares the big org's pages only
        )


@dataclass
class Dataset:
    """What a seeded database holds that the benchmarks need to know (kept in its COMMENT)."""

    database: str
    scale: dict
    big_org: dict  # slug, id, members
    switch_slugs: list[str]
    logins: list[str]
    password: str = BENCH_PASSWORD
    seeded_tables: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    version: int = SEED_VERSION
    huge_org: dict | None = None  # slug, id, members: the 100,000-member org, when seeded


# ---------------------------------------------------------------------------- the server


def admin_url() -> tuple[str, str]:
    """(admin URL, where it came from). Starts the embedded server when no URL is set."""
    for name in ("BENCH_DATABASE_URL", "DATABASE_URL"):
        if os.environ.get(name):
            return os.environ[name], name
    OUT_DIR.mkdir(exist_ok=True)
    return provisioning.start_embedded(OUT_DIR / "instance"), "embedded PostgreSQL (bench/out)"


def read_dataset(admin: str, database: str) -> Dataset | None:
    with psycopg.connect(provisioning.libpq_url(admin), autocommit=True) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            (database,),
        ).fetchone()
    if not row or not row[0]:
        return None
    try:
        return Dataset(**json.loads(row[0]))
    except (ValueError, TypeError):
        return None


def ensure_seeded(admin: str, database: str, scale: Scale, log=print, force=False) -> Dataset:
    """Reuse ``database`` when it holds this scale already (migrating it to the new heads);
    seed it from scratch otherwise, or when tables it should fill appeared since."""
    existing = None if force else read_dataset(admin, database)
    if existing and existing.version == SEED_VERSION and existing.scale == asdict(scale):
        urls = provisioning.bootstrap(admin, database)
        migrate.upgrade(urls.owner)
        with psycopg.connect(provisioning.libpq_url(urls.admin)) as conn:
            fillable = [t for t, _ in SEEDERS if _table_exists(conn, t)]
        if set(fillable) <= set(existing.seeded_tables):
            log(f"  {database}: reusing the seeded database ({scale.orgs:,} orgs)")
            return existing
        log(f"  {database}: new tables to fill since it was seeded; seeding again")
    return seed(admin, database, scale, log)


# ---------------------------------------------------------------------------- generation


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _timestamps(rng: random.Random, days_back: int, n: int = 4096) -> list[str]:
    """A pool of timestamps to draw from: formatting one per row would dominate the run."""
    now = datetime.now(UTC).replace(microsecond=0)
    return [
        (now - timedelta(seconds=rng.randrange(days_back * 86400))).isoformat() for _ in range(n)
    ]


def _member_counts(rng: random.Random, scale: Scale) -> list[int]:
    """Members per org: the big org first, then a long tail summing to the rest."""
    others = scale.orgs - 1
    rest = scale.memberships - scale.big_org_members
    huge = scale.huge_org_members if scale.orgs > HUGE_INDEX else 0
    rest -= huge
    weights = [rng.lognormvariate(0, 1.7) for _ in range(others)]  # long tail
    total = sum(weights)
    cap = min(scale.users, scale.big_org_members)  # nobody outgrows the big org
    # The switch orgs must hold every benchmark login.
    floor = [BENCH_USERS if k < 2 else 1 for k in range(others)]
    counts = [max(floor[k], min(cap, int(w / total * rest))) for k, w in enumerate(weights)]
    if huge:  # the huge org is fixed; the top-up below leaves it alone
        floor[HUGE_INDEX - 1] = counts[HUGE_INDEX - 1] = huge
        rest += huge
    # Top up (or trim) round-robin so the total is exact.
    i, diff = 0, rest - sum(counts)
    while diff and others:
        step = 1 if diff > 0 else -1
        if huge and i == HUGE_INDEX - 1:
            pass
        elif (step > 0 and counts[i] < cap) or (step < 0 and counts[i] > floor[i]):
            counts[i] += step
            diff -= step
        i = (i + 1) % others
    return [scale.big_org_members, *counts]


class _Rows:
    """Everything generated in memory before COPY: ids, names, who is in which org."""

    def __init__(self, scale: Scale) -> None:
        rng = random.Random(scale.seed)
        self.rng = rng
        self.scale = scale
        self.org_ids = [_uuid(rng) for _ in range(scale.orgs)]
        self.user_ids = [_uuid(rng) for _ in range(scale.users)]
        self.counts = _member_counts(rng, scale)
        self.created = _timestamps(rng, 3 * 365)
        self.recent = _timestamps(rng, 30)
        self.events: list[int] = []
        self.names: list[str] = []  # users' names, for the memberships' sort keys
        self.key_columns = False  # memberships.sort_name/search_key exist (migration 0020)
        self.person_columns = False  # memberships.person_name/person_email (migration 0040)

    def slug(self, i: int) -> str:
        if i == 0:
            return BIG_SLUG
        if i <= len(SWITCH_SLUGS):
            return SWITCH_SLUGS[i - 1]
        if i == HUGE_INDEX and self.scale.huge_org_members:
            return HUGE_SLUG
        return f"org-{i:05d}"

    def is_huge(self, i: int) -> bool:
        return i == HUGE_INDEX and bool(self.scale.huge_org_members)

    def members_of(self, i: int) -> Iterable[int]:
        """User indexes of org i: a contiguous block (mod users), so never a duplicate."""
        n = self.counts[i]
        if i <= len(SWITCH_SLUGS) or self.is_huge(i):  # these start at the benchmark logins
            return range(n)
        start = (i * 7919) % self.scale.users
        return ((start + k) % self.scale.users for k in range(n))


def _plans(conn: psycopg.Connection) -> list[str]:
    """Plan keys, cheapest first: from the plans table once it exists (issue 7)."""
    if not _table_exists(conn, "plans"):
        return ["free"]
    return [r[0] for r in conn.execute("SELECT key FROM plans ORDER BY position, key")]


def _org_lines(rows: _Rows, plans: list[str]) -> Iterable[str]:
    # Most orgs on the cheaper plans; the big org on the top one.
    weights = [2 ** (len(plans) - k) for k in range(len(plans))]
    for i, org_id in enumerate(rows.org_ids):
        status = "suspended" if i > 2 and i % 97 == 0 else "active"
        name = ("Big Bench Co" if i == 0 else "Huge Bench Co" if rows.is_huge(i)
                else f"{rows.rng.choice(LAST)} {rows.slug(i)}")
        plan = plans[-1] if i == 0 or rows.is_huge(i) else rows.rng.choices(plans, weights)[0]
        yield (f"{org_id}\t{rows.slug(i)}\t{name}\t{status}\t{plan}\t"
               f"{rows.rng.choice(rows.created)}\n")


def _user_lines(rows: _Rows, password_hash: str) -> Iterable[str]:
    big = rows.org_ids[0]
    rng = rows.rng
    for i, user_id in enumerate(rows.user_ids):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        rows.names.append(f"{first} {last}")
        # The big org's members come back to it after sign-in.
        last_org = big if i < rows.scale.big_org_members else r"\N"
        yield (f"{user_id}\tuser{i}@bench.example\t{first} {last}\t{password_hash}\t"
               f"{last_org}\t{rng.choice(rows.created)}\n")


def _membership_lines(rows: _Rows) -> Iterable[str]:
    rng = rows.rng
    users = rows.user_ids
    # Sorted by (org_id, user_id): the primary key is then built in order during COPY.
    for i in sorted(range(rows.scale.orgs), key=rows.org_ids.__getitem__):
        org_id = rows.org_ids[i]
        members = rows.members_of(i)
        first = next(iter(rows.members_of(i)))
        for u in sorted(members, key=users.__getitem__):
            if u == first:
                role = "owner"
            elif u < BENCH_USERS and (i <= len(SWITCH_SLUGS) or rows.is_huge(i)):
                role = "admin"
            else:
                r = rng.random()
                role = "admin" if r < 0.04 else "guest" if r < 0.08 else "member"
            active = rng.choice(rows.recent) if rng.random() < 0.7 else r"\N"
            keys = ""
            if rows.key_columns:  # as the migration's trigger computes them (COPY escapes \n)
                name = rows.names[u].lower()
                keys = f"\t{name}\t{name}\\nuser{u}@bench.example"
            if rows.person_columns:  # as users holds them
                keys += f"\t{rows.names[u]}\tuser{u}@bench.example"
            yield f"{org_id}\t{users[u]}\t{role}\t{rng.choice(rows.created)}\t{active}{keys}\n"


# Tables this seeder fills, in order, with the function that writes their rows. A table
# that is not in the schema yet (another area's migration not on main) is skipped.
SEEDERS: list[tuple[str, Callable]] = []

# Usage (issue 8): share of events per metric, and the quantities one event reports.
USAGE_MIX = {"api_calls": 0.6, "active_users": 0.3, "seats": 0.05, "storage_bytes": 0.05}


def _event_counts(rows: _Rows) -> list[int]:
    """Events per org: the big org's fixed share, the rest in proportion to members."""
    scale = rows.scale
    rest = max(0, scale.events - scale.big_org_events)
    members = sum(rows.counts[1:]) or 1
    counts = [scale.big_org_events] + [rest * c // members for c in rows.counts[1:]]
    counts[1] += scale.events - sum(counts)  # rounding
    return counts


def _usage_event_lines(rows: _Rows) -> Iterable[str]:
    rng = rows.rng
    today = datetime.now(UTC).date()
    days = [(today - timedelta(days=d)).isoformat() for d in range(365)]
    times = [f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}+00"
             for _ in range(4096)]
    names, weights = list(USAGE_MIX), list(USAGE_MIX.values())
    pools = {
        "api_calls": [rng.randint(1, 500) for _ in range(1024)],
        "active_users": [1] * 1024,
        "storage_bytes": [rng.randint(10**6, 10**11) for _ in range(1024)],
    }
    key = 0
    for i in sorted(range(rows.scale.orgs), key=rows.org_ids.__getitem__):
        n = rows.events[i]
        if not n:
            continue
        org_id = rows.org_ids[i]
        pools["seats"] = [max(1, rows.counts[i] - rng.randrange(3)) for _ in range(1024)]
        metrics = rng.choices(names, weights, k=n)
        picks = rng.choices(range(1024), k=n)
        for j, (metric, day, at) in enumerate(zip(
                metrics, rng.choices(days, k=n), rng.choices(times, k=n), strict=True)):
            yield (f"{org_id}\t{metric}\t{pools[metric][picks[j]]}\t{day} {at}\t"
                   f"bench-{key + j}\n")
        key += n


def _seed_usage_events(conn, rows: _Rows, **_) -> int:
    rows.events = _event_counts(rows)
    return _copy(conn, "usage_events (org_id, metric, quantity, occurred_at, idempotency_key)",
                 _usage_event_lines(rows))


def _seed_usage_daily(conn, rows: _Rows, **_) -> int:
    """The daily rollups, computed from the events as the ingestion service rolls them up."""
    try:
        from dashboard.usage.metrics import METRICS
    except ImportError:  # the tables without the code: the gauges as issue 8 defines them
        gauges = ["seats", "storage_bytes"]
    else:
        gauges = [name for name, metric in METRICS.items() if metric.per_day.value == "max"]
    conn.execute("SET LOCAL work_mem = '256MB'")  # one in-memory hash aggregate
    return conn.execute(
        """
        INSERT INTO usage_daily (org_id, metric, day, total)
        SELECT org_id, metric, (occurred_at AT TIME ZONE 'UTC')::date,
               CASE WHEN metric = ANY(%s) THEN max(quantity) ELSE sum(quantity) END
          FROM usage_events GROUP BY 1, 2, 3
        """,
        (gauges,),
    ).rowcount


def _seed_orgs(conn, rows: _Rows, **_) -> int:
    return _copy(conn, "organizations (id, slug, name, status, plan, created_at)",
                 _org_lines(rows, _plans(conn)))


def _seed_users(conn, rows: _Rows, password_hash: str, **_) -> int:
    return _copy(conn, "users (id, email, name, password_hash, last_org_id, created_at)",
                 _user_lines(rows, password_hash))


def _seed_memberships(conn, rows: _Rows, **_) -> int:
    rows.key_columns = _column_exists(conn, "memberships", "search_key")
    columns = "org_id, user_id, role, created_at, last_active_at"
    if rows.key_columns:
        columns += ", sort_name, search_key"
    rows.person_columns = rows.key_columns and _column_exists(conn, "memberships", "person_name")
    if rows.person_columns:
        columns += ", person_name, person_email"
    return _copy(conn, f"memberships ({columns})", _membership_lines(rows))


def _derived(conn: psycopg.Connection) -> None:
    """What triggers keep in step, which COPY with triggers off did not fill."""
    if _table_exists(conn, "member_counts"):
        conn.execute("DELETE FROM member_counts")
        conn.execute("INSERT INTO member_counts (org_id, role, members)"
                     " SELECT org_id, role, count(*) FROM memberships GROUP BY 1, 2")
    if _table_exists(conn, "member_revisions"):  # a search's kept total needs one per org
        conn.execute("DELETE FROM member_revisions")
        conn.execute("INSERT INTO member_revisions (org_id)"
                     " SELECT DISTINCT org_id FROM memberships")
    if _table_exists(conn, "usage_revisions"):  # what the ingest statement raises
        conn.execute("DELETE FROM usage_revisions")
        conn.execute("INSERT INTO usage_revisions (org_id, revision)"
                     " SELECT DISTINCT org_id, 1 FROM usage_daily")


SEEDERS += [
    ("organizations", _seed_orgs),
    ("users", _seed_users),
    ("memberships", _seed_memberships),
    ("usage_events", _seed_usage_events),
    ("usage_daily", _seed_usage_daily),
]


# ---------------------------------------------------------------------------- loading


def _copy(conn: psycopg.Connection, target: str, lines: Iterable[str]) -> int:
    count = 0
    buffer: list[str] = []
    with conn.cursor() as cur, cur.copy(f"COPY {target} FROM STDIN") as copy:
        for line in lines:
            buffer.append(line)
            if len(buffer) >= CHUNK:
                copy.write("".join(buffer))
                count += len(buffer)
                buffer.clear()
        if buffer:
            copy.write("".join(buffer))
            count += len(buffer)
    return count


def _column_exists(conn: psycopg.Connection, table: str, column: str) -> bool:
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s)"
        " AND attname = %s AND NOT attisdropped)", (table, column)).fetchone()[0]


def _table_exists(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()[0]


def _droppable(conn: psycopg.Connection, table: str) -> list[tuple[str, str, str]]:
    """Indexes to drop before a bulk load and rebuild after it, as (kind, name, definition):
    plain indexes, and primary-key/unique constraints no foreign key depends on."""
    return conn.execute(
        """
        SELECT 'index', i.relname, pg_get_indexdef(x.indexrelid)
          FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
         WHERE x.indrelid = %(t)s::regclass
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
        UNION ALL
        SELECT 'constraint', c.conname, pg_get_constraintdef(c.oid)
          FROM pg_constraint c
         WHERE c.conrelid = %(t)s::regclass AND c.contype IN ('p', 'u')
           AND NOT EXISTS (SELECT 1 FROM pg_constraint f
                            WHERE f.contype = 'f' AND f.conindid = c.conindid)
        """,
        {"t": table},
    ).fetchall()


def _drop(conn: psycopg.Connection, table: str, kind: str, name: str) -> None:
    if kind == "index":
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    else:
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
            sql.Identifier(table), sql.Identifier(name)))


def _rebuild(conn: psycopg.Connection, table: str, kind: str, name: str, definition: str):
    if kind == "index":
        conn.execute(definition)
    else:
        conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
            sql.Identifier(table), sql.Identifier(name)) + sql.SQL(definition))


def password_hash() -> str:
    from dashboard.auth.passwords import Passwords
    from dashboard.config import from_environment

    settings = from_environment()  # the app's own argon2 cost, so sign-in costs what it costs
    return Passwords(settings["ARGON2_TIME_COST"], settings["ARGON2_MEMORY_COST"]).hash(
        BENCH_PASSWORD
    )


def seed(admin: str, database: str, scale: Scale, log=print) -> Dataset:
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    provisioning.drop_database(admin, database)
    urls = provisioning.bootstrap(admin, database)
    migrate.upgrade(urls.owner)
    seconds["create+migrate"] = time.perf_counter() - started
    log(f"  {database}: generating {scale.orgs:,} orgs, {scale.users:,} users, "
        f"{scale.memberships:,} memberships, {scale.events:,} usage events")
    rows = _Rows(scale)
    hashed = password_hash()
    seeded, skipped = [], []
    with psycopg.connect(provisioning.libpq_url(urls.admin)) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET session_replication_role = replica")  # no FK triggers while loading
        for table, writer in SEEDERS:
            if not _table_exists(conn, table):
                skipped.append(table)
                log(f"  {table}: not in the schema yet; skipped")
                continue
            t0 = time.perf_counter()
            indexes = _droppable(conn, table)
            for kind, name, _ in indexes:
                _drop(conn, table, kind, name)
            count = writer(conn, rows, password_hash=hashed, urls=urls)
            for kind, name, definition in indexes:
                _rebuild(conn, table, kind, name, definition)
            conn.commit()
            seconds[table] = time.perf_counter() - t0
            seeded.append(table)
            log(f"  {table}: {count:,} rows in {seconds[table]:.1f} s")
        conn.execute("SET session_replication_role = DEFAULT")
        _derived(conn)
        conn.commit()
        conn.autocommit = True
        t0 = time.perf_counter()
        conn.execute("VACUUM (ANALYZE)")
        seconds["vacuum analyze"] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - started
    dataset = Dataset(
        database=database,
        scale=asdict(scale),
        big_org={"slug": BIG_SLUG, "id": rows.org_ids[0], "members": rows.counts[0]},
        huge_org=({"slug": HUGE_SLUG, "id": rows.org_ids[HUGE_INDEX],
                   "members": rows.counts[HUGE_INDEX]} if rows.is_huge(HUGE_INDEX) else None),
        switch_slugs=list(SWITCH_SLUGS),
        logins=[f"user{i}@bench.example" for i in range(BENCH_USERS)],
        seeded_tables=seeded,
        skipped=skipped,
        seconds={k: round(v, 1) for k, v in seconds.items()},
    )
    with psycopg.connect(provisioning.libpq_url(admin), autocommit=True) as conn:
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(database), sql.Literal(json.dumps(asdict(dataset)))
            )
        )
    log(f"  {database}: seeded in {seconds['total']:.0f} s")
    return dataset


def main(argv: list[str] | None = None) -> int:
    defaults = Scale()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=defaults.orgs)
    parser.add_argument("--users", type=int, default=defaults.users)
    parser.add_argument("--memberships", type=int, default=defaults.memberships)
    parser.add_argument("--big-org-members", type=int, default=defaults.big_org_members)
    parser.add_argument("--events", type=int, default=defaults.events)
    parser.add_argument("--big-org-events", type=int, default=defaults.big_org_events)
    parser.add_argument("--database", help="default: tenantdesk_bench_o<orgs>")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the database when it already holds this scale")
    args = parser.parse_args(argv)
    scale = Scale(args.orgs, args.users, args.memberships, args.big_org_members, args.events,
                  args.big_org_events)
    if scale.users < scale.big_org_members + BENCH_USERS or scale.orgs < 3:
        parser.error("need at least 3 orgs and more users than the big org has members")
    if scale.memberships < scale.big_org_members + scale.orgs - 1:
        parser.error("every org needs a member: raise --memberships")
    admin, source = admin_url()
    database = args.database or f"tenantdesk_bench_o{scale.orgs}"
    print(f"Seeding {database} on {source}")
    dataset = ensure_seeded(admin, database, scale, force=not args.reuse)
    print(json.dumps(asdict(dataset)["seconds"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
