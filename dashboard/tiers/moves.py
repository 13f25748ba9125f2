"""Move a tenant between tiers: read-only, copy, verify, switch, purge, certificate.

Every step is its own transaction and records its outcome in the ``tenant_moves`` row, so a
move killed at any point resumes where it stood (``resume``) and ends verified, and a move
not yet switched can be aborted, leaving the tenant where it was and nothing in the target.

1. **start**   route state ``moving``: from then on a write of the org to a cell table is
               refused (statement trigger, SQLSTATE 25006; reads and control-plane
               writes go on). Then a barrier: an exclusive advisory lock on the org waits
               for every transaction that began before (and may have written already).
2. **copy**    the target is built/synced (schema tier), cleared of the org's rows, and
               every cell table is copied, parents first.
3. **verify**  row count and checksum of every table, source against target; any
               difference stops the move before the switch.
4. **switch**  one transaction: route -> target tier, state ``active``, version + 1.
5. **purge**   the source's rows are deleted (a tenant schema is dropped); the counts left
               (zero) complete the certificate, which is the finished move row.

Runs as the owner role; data statements run as the definer role (``SET LOCAL ROLE``), the
only one that reads through RLS, and only in this process.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from dashboard.provisioning import DEFINER_ROLE
from dashboard.tiers import catalogue, dedicated, schema
from dashboard.tiers.catalogue import quote

ORG_LOCK = 7243003  # advisory lock namespace: (ORG_LOCK, hashtext(org id))
OPEN_STATES = ("requested", "copying", "verified", "switched")
# The owner's steps change shared tables' triggers, grants and foreign keys, whose locks
# every request of every org also takes. Waiting for one of them is cut short (and the step
# retried; every step is idempotent) well before PostgreSQL's deadlock check (1 s), so when a
# step and a request wait on each other the step gives way, never the request.
LOCK_TIMEOUT_MS = 200
LOCK_RETRIES = 60
LOCK_NOT_AVAILABLE = "55P03"

Progress = Callable[[str, int, int], None]  # (table, rows of this table, rows in all tables)


class MoveError(RuntimeError):
    pass


TIERS = ("shared", "schema", "dedicated")


@dataclass(frozen=True)
class Place:
    tier: str
    schema: str  # 'public' on the shared and dedicated tiers
    ref: str | None = None  # dedicated: the environment variable naming the database

    @classmethod
    def of(cls, tier: str, schema_name: str | None, ref: str | None = None) -> Place:
        return cls(tier, schema_name or "public", ref if tier == "dedicated" else None)


class Mover:
    def __init__(self, owner_url: str, progress: Progress | None = None) -> None:
        self.owner_url = owner_url
        self.engine: Engine = create_engine(owner_url, poolclass=pool.NullPool)
        self.progress = progress or (lambda table, rows, total: None)
        self._dedicated: dict[str, Engine] = {}

    def close(self) -> None:
        self.engine.dispose()
        for engine in self._dedicated.values():
            engine.dispose()

    def engine_of(self, place: Place) -> Engine:
        """The owner's engine on the database holding ``place``."""
        if place.tier != "dedicated":
            return self.engine
        if place.ref not in self._dedicated:
            self._dedicated[place.ref] = create_engine(
                dedicated.owner_url(place.ref), poolclass=pool.NullPool
            )
        return self._dedicated[place.ref]

    # ------------------------------------------------------------------ helpers
    @contextmanager
    def _tx(self):
        with self.engine.begin() as conn:
            conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'"))
            yield conn

    @staticmethod
    def _giving_way(step: Callable[[], dict]) -> dict:
        """Run ``step`` again while a lock it needs is held by requests (see LOCK_TIMEOUT_MS)."""
        for attempt in range(LOCK_RETRIES):
            try:
                return step()
            except OperationalError as exc:
                if (getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE
                        or attempt == LOCK_RETRIES - 1):
                    raise
                time.sleep(0.05 + random.random() * min(0.5, 0.05 * (attempt + 1)))  # noqa: S311
        raise AssertionError("unreachable")

    @staticmethod
    def _as_definer(conn: Connection) -> None:
        conn.execute(text(f"SET LOCAL ROLE {DEFINER_ROLE}"))

    def org(self, slug: str) -> tuple[uuid.UUID, str]:
        with self._tx() as conn:
            self._as_definer(conn)
            row = conn.execute(
                text("SELECT id, slug FROM organizations WHERE slug = :s"), {"s": slug}
            ).one_or_none()
        if row is None:
            raise MoveError(f"no organization {slug!r}")
        return row.id, row.slug

    def route(self, conn: Connection, org_id) -> dict:
        row = conn.execute(
            text("SELECT tier, schema_name, connection_ref FROM tenant_routes WHERE org_id = :o"),
            {"o": org_id},
        ).one_or_none()
        return dict(row._mapping) if row else {"tier": "shared", "schema_name": None,
                                               "connection_ref": None}

    def open_move(self, org_id) -> dict | None:
        with self._tx() as conn:
            row = conn.execute(
                text("SELECT * FROM tenant_moves WHERE org_id = :o AND state = ANY(:s)"),
                {"o": org_id, "s": list(OPEN_STATES)},
            ).one_or_none()
        return dict(row._mapping) if row else None

    def load(self, move_id) -> dict:
        with self._tx() as conn:
            return dict(
                conn.execute(text("SELECT * FROM tenant_moves WHERE id = :m"), {"m": move_id})
                .one()._mapping
            )

    def _set(self, conn: Connection, move_id, **fields) -> None:
        sets = ", ".join(
            f"{k} = CAST(:{k} AS jsonb)" if isinstance(v, dict) else f"{k} = :{k}"
            for k, v in fields.items()
        )
        params = {k: json.dumps(v) if isinstance(v, dict) else v for k, v in fields.items()}
        conn.execute(
            text(f"UPDATE tenant_moves SET {sets}, updated_at = now() WHERE id = :m"),
            {**params, "m": move_id},
        )

    # ------------------------------------------------------------------ steps
    def start(self, slug: str, to: str, requested_by: str,
              target: str | None = None) -> uuid.UUID:
        if to not in TIERS:
            raise MoveError(f"cannot move to {to!r}: tiers are {', '.join(TIERS)}")
        if (to == "dedicated") != (target is not None):
            raise MoveError("a move to a dedicated database needs --target ENV_NAME (the"
                            " environment variable holding its URL), and only such a move")
        if target is not None:
            try:
                dedicated.runtime_url(target)
            except dedicated.DedicatedUnavailable as exc:
                raise MoveError(str(exc)) from exc
        org_id, slug = self.org(slug)
        existing = self.open_move(org_id)
        if existing:
            if existing["state"] == "requested" and existing["to_tier"] == to and (
                existing["to_ref"] == target
            ):
                return existing["id"]
            raise MoveError(
                f"{slug} already has an open move ({existing['state']} to "
                f"{existing['to_tier']}): resume or abort it first"
            )
        with self._tx() as conn:
            current = self.route(conn, org_id)
            if current["tier"] == to and current["connection_ref"] == target:
                raise MoveError(f"{slug} is already on the {to} tier")
            return conn.execute(
                text(
                    "INSERT INTO tenant_moves (org_id, org_slug, from_tier, to_tier, to_ref,"
                    " requested_by) VALUES (:o, :s, :f, :t, :r, :by) RETURNING id"
                ),
                {"o": org_id, "s": slug, "f": current["tier"], "t": to, "r": target,
                 "by": requested_by},
            ).scalar_one()

    def run(self, move_id) -> dict:
        """Carry a move from whatever state it is in to ``done``."""
        return self._giving_way(lambda: self._run(move_id))

    def _run(self, move_id) -> dict:
        move = self.load(move_id)
        if move["state"] == "requested":
            self._freeze(move)
            move = self.load(move_id)
        if move["state"] == "copying":
            self._copy(move)
            self._verify(move)
            move = self.load(move_id)
        if move["state"] == "verified":
            self._switch(move)
            move = self.load(move_id)
        if move["state"] == "switched":
            self._purge(move)
            move = self.load(move_id)
        return move

    def _freeze(self, move: dict) -> None:
        org_id = move["org_id"]
        with self._tx() as conn:  # every cell table of the source refuses a frozen org's writes
            current = self.route(conn, org_id)
            # (a dedicated database's transactions of a moving org are read-only instead)
            for table in catalogue.layout(conn).cell if current["tier"] != "dedicated" else ():
                schema.ensure_freeze_trigger(conn, current["schema_name"] or "public", table)
        with self._tx() as conn:
            current = self.route(conn, org_id)
            to_schema = catalogue.schema_name(org_id) if move["to_tier"] == "schema" else None
            conn.execute(
                text(
                    "INSERT INTO tenant_routes (org_id, tier, schema_name, connection_ref,"
                    " revision, state) VALUES (:o, 'shared', NULL, NULL, NULL, 'moving')"
                    " ON CONFLICT (org_id) DO UPDATE SET state = 'moving',"
                    " version = tenant_routes.version + 1, updated_at = now()"
                ),
                {"o": org_id},
            )
            self._set(
                conn, move["id"], state="copying", from_tier=current["tier"],
                from_schema=current["schema_name"], from_ref=current["connection_ref"],
                to_schema=to_schema,
            )
        # Barrier: every transaction of the org takes a shared lock in its context statement;
        # this waits until those that began before the freeze (still writable) have ended.
        # A dedicated source also gets the lock in its own database (the request's
        # transaction there began before its shared one ended).
        source = Place.of(current["tier"], current["schema_name"], current["connection_ref"])
        for engine in {self.engine, self.engine_of(source)}:
            with engine.begin() as conn:
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:ns, hashtext(:o))"),
                    {"ns": ORG_LOCK, "o": str(org_id)},
                )

    def _places(self, move: dict) -> tuple[Place, Place]:
        return (Place.of(move["from_tier"], move["from_schema"], move["from_ref"]),
                Place.of(move["to_tier"], move["to_schema"], move["to_ref"]))

    def _copy(self, move: dict) -> None:
        source, target = self._places(move)
        org_id = move["org_id"]
        with self._tx() as conn:  # DDL as the owner: build or sync the target
            layout = catalogue.layout(conn)
            if target.tier == "schema":
                schema.sync(conn, target.schema, layout)
            for table in layout.cell:  # the definer copies into shared cell tables too
                conn.execute(text(f"GRANT SELECT, INSERT, DELETE ON public.{quote(table)}"
                                  f" TO {DEFINER_ROLE}"))
        if target.tier == "dedicated":  # same migrations, the dedicated gate, the gate key
            dedicated.prepare(self.owner_url, target.ref)
        source_engine, target_engine = self.engine_of(source), self.engine_of(target)
        with target_engine.begin() as conn:
            self._as_definer(conn)
            self._delete(conn, target, layout, org_id)
        with source_engine.begin() as conn:
            self._as_definer(conn)
            totals = {
                t: catalogue.fingerprint(conn, source.schema, t, catalogue.columns(conn, t),
                                         org_id)["rows"]
                for t in layout.cell
            }
        grand_total = sum(totals.values())
        for number, table in enumerate(layout.cell, start=1):
            if source_engine is target_engine:
                with self._tx() as conn:
                    self._as_definer(conn)
                    cols = ", ".join(quote(c) for c in _insertable(conn, table))
                    conn.execute(
                        text(
                            f"INSERT INTO {quote(target.schema)}.{quote(table)} ({cols})"
                            f" OVERRIDING SYSTEM VALUE SELECT {cols}"
                            f" FROM {quote(source.schema)}.{quote(table)} WHERE org_id = :o"
                        ),
                        {"o": org_id},
                    )
            else:
                _copy_between(source_engine, source, target_engine, target, table, org_id)
            self.progress(table, totals[table], grand_total)
            _fault_point("copy", number)
        if source_engine is not target_engine:
            _catch_up_sequences(target_engine, target, layout.cell)
        with target_engine.connect() as conn:  # fresh tables: give the planner statistics
            for table in layout.cell:
                conn.execute(text(f"ANALYZE {quote(target.schema)}.{quote(table)}"))
            conn.commit()

    def _delete(self, conn: Connection, place: Place, layout, org_id) -> dict:
        left = {}
        for table in layout.children_first():
            exists = conn.execute(
                text("SELECT to_regclass(:q) IS NOT NULL"),
                {"q": f"{quote(place.schema)}.{quote(table)}"},
            ).scalar_one()
            if exists:
                conn.execute(
                    text(f"DELETE FROM {quote(place.schema)}.{quote(table)} WHERE org_id = :o"),
                    {"o": org_id},
                )
                left[table] = conn.execute(
                    text(f"SELECT count(*) FROM {quote(place.schema)}.{quote(table)}"
                         " WHERE org_id = :o"), {"o": org_id},
                ).scalar_one()
        return left

    def _verify(self, move: dict) -> None:
        source, target = self._places(move)
        report, bad = {}, []
        with self._tx() as conn:
            layout = catalogue.layout(conn)
            columns = {t: catalogue.columns(conn, t) for t in layout.cell}
        sides = {}
        for name, place in (("source", source), ("target", target)):
            with self.engine_of(place).begin() as conn:
                self._as_definer(conn)
                _same_text_settings(conn)  # the row text a checksum covers, on both sides
                sides[name] = {
                    t: catalogue.fingerprint(conn, place.schema, t, columns[t], move["org_id"])
                    for t in layout.cell
                }
        for table in layout.cell:
            before, after = sides["source"][table], sides["target"][table]
            report[table] = {"source": before, "target": after}
            if before != after:
                bad.append(table)
        with self._tx() as conn:
            if bad:
                self._set(conn, move["id"], tables=report,
                          error=f"verification failed for {', '.join(bad)}")
            else:
                self._set(conn, move["id"], tables=report, state="verified", error=None)
        if bad:
            raise MoveError(f"verification failed for {', '.join(bad)}; nothing switched")

    def _switch(self, move: dict) -> None:
        _, target = self._places(move)
        revision = None
        if target.tier == "dedicated":
            with self.engine_of(target).begin() as conn:
                revision = dedicated.revision(conn)
        with self._tx() as conn:
            if target.tier == "schema":
                revision = schema.shared_revision(conn)
            conn.execute(
                text(
                    "UPDATE tenant_routes SET tier = :t, schema_name = :s, connection_ref = :c,"
                    " revision = :r, state = 'active', version = version + 1, updated_at = now()"
                    " WHERE org_id = :o"
                ),
                {"t": move["to_tier"], "s": move["to_schema"], "c": target.ref,
                 "r": revision, "o": move["org_id"]},
            )
            self._set(conn, move["id"], state="switched")
        _fault_point("switch", 1)

    def _purge(self, move: dict) -> None:
        source, _ = self._places(move)
        with self._tx() as conn:
            layout = catalogue.layout(conn)
        with self.engine_of(source).begin() as conn:
            self._as_definer(conn)
            left = self._delete(conn, source, layout, move["org_id"])
        if source.tier == "schema":
            with self._tx() as conn:
                schema.drop(conn, source.schema)
        with self._tx() as conn:
            tables = dict(self.load(move["id"])["tables"])
            for table, count in left.items():
                tables.setdefault(table, {})["source_rows_after_purge"] = count
            self._set(conn, move["id"], tables=tables, state="done")
            conn.execute(text("UPDATE tenant_moves SET finished_at = now() WHERE id = :m"),
                         {"m": move["id"]})

    def abort(self, move_id) -> dict:
        return self._giving_way(lambda: self._abort(move_id))

    def _abort(self, move_id) -> dict:
        move = self.load(move_id)
        if move["state"] not in ("requested", "copying", "verified"):
            raise MoveError(f"a move in state {move['state']} cannot be aborted; resume it")
        if move["state"] != "requested":
            _, target = self._places(move)
            with self._tx() as conn:
                layout = catalogue.layout(conn)
            if target.tier == "schema":
                with self._tx() as conn:
                    schema.drop(conn, target.schema)
            else:
                with self.engine_of(target).begin() as conn:
                    self._as_definer(conn)
                    self._delete(conn, target, layout, move["org_id"])
        with self._tx() as conn:
            conn.execute(
                text("UPDATE tenant_routes SET state = 'active', version = version + 1,"
                     " updated_at = now() WHERE org_id = :o"),
                {"o": move["org_id"]},
            )
            self._set(conn, move_id, state="aborted")
            conn.execute(text("UPDATE tenant_moves SET finished_at = now() WHERE id = :m"),
                         {"m": move_id})
        return self.load(move_id)


def _same_text_settings(conn: Connection) -> None:
    conn.execute(text("SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, MDY';"
                      " SET LOCAL extra_float_digits = 3; SET LOCAL IntervalStyle = 'postgres'"))


def _copy_between(source_engine: Engine, source: Place, target_engine: Engine, target: Place,
                  table: str, org_id) -> None:
    """One table's rows of the org from one database to another, streamed (binary COPY)."""
    org = str(uuid.UUID(str(org_id)))  # a checked uuid: safe to inline in COPY
    with source_engine.begin() as src, target_engine.begin() as dst:
        for conn in (src, dst):
            conn.execute(text(f"SET LOCAL ROLE {DEFINER_ROLE}"))
        cols = ", ".join(quote(c) for c in _insertable(src, table))
        reader = src.connection.driver_connection.cursor()
        writer = dst.connection.driver_connection.cursor()
        with reader.copy(
            f"COPY (SELECT {cols} FROM {quote(source.schema)}.{quote(table)}"
            f" WHERE org_id = '{org}'::uuid) TO STDOUT (FORMAT BINARY)"
        ) as out, writer.copy(
            f"COPY {quote(target.schema)}.{quote(table)} ({cols}) FROM STDIN (FORMAT BINARY)"
        ) as into:
            for block in out:
                into.write(block)


def _catch_up_sequences(engine: Engine, place: Place, tables) -> None:
    """Rows copied from another database carry ids its sequences handed out: move this
    database's sequences past them, so the next id never collides."""
    with engine.begin() as conn:
        for table in tables:
            serial = conn.execute(
                text("SELECT attname, pg_get_serial_sequence('public.' || quote_ident(:t),"
                     " attname) AS seq FROM pg_attribute"
                     " WHERE attrelid = ('public.' || quote_ident(:t))::regclass AND attnum > 0"
                     " AND NOT attisdropped"
                     " AND pg_get_serial_sequence('public.' || quote_ident(:t), attname)"
                     " IS NOT NULL"), {"t": table},
            ).all()
            for column, sequence in serial:
                conn.execute(text(f"SET LOCAL ROLE {DEFINER_ROLE}"))
                highest = conn.execute(text(
                    f"SELECT max({quote(column)}) FROM {quote(place.schema)}.{quote(table)}"
                )).scalar()
                conn.execute(text("RESET ROLE"))
                if highest is not None:
                    conn.execute(
                        text("SELECT setval(CAST(:s AS regclass), greatest(:h,"
                             " (SELECT last_value FROM " + sequence + ")))"),
                        {"s": sequence, "h": highest},
                    )


def _insertable(conn: Connection, table: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            text(
                "SELECT attname FROM pg_attribute WHERE attrelid = ('public.' || :t)::regclass"
                " AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum"
            ),
            {"t": table},
        )
    ]


def _fault_point(step: str, number: int) -> None:
    """Fault injection for the crash tests: ``TENANTDESK_MOVE_KILL_AT=copy:2`` kills -9."""
    if os.environ.get("TENANTDESK_MOVE_KILL_AT") == f"{step}:{number}":
        os.kill(os.getpid(), signal.SIGKILL)
