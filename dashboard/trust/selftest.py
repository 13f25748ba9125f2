"""The live isolation self-test: against the running database, with the runtime role, try to
read org B's rows while acting for org A in every way a bug or an attacker could arrange.
No Flask here.

Two dedicated self-test orgs (slugs ``selftest-a`` / ``selftest-b``, each with one member and
one API key, plus a revoked key of A and a suspended org C) are made once and kept; every
probe runs in a transaction that is rolled back, so a run writes nothing but its result row.
Probes, each over every tenant table found in the catalogue (forced RLS and an ``org_id``):

1. A's member acting for A: every row seen must be A's;
2. A's member naming org B (a forged context): zero rows;
3. credential swap on ONE connection: A's API key for org B, then (next transaction, same
   connection) B's own context, then A's key again: never a B row outside B's context;
4. A's revoked key, and a member of the suspended org C: zero rows;
5. every argument-free SECURITY DEFINER function the runtime role may call (they read the
   context, as the gate does), under the forged context: no B id in what they return.

A run records tables and functions probed, attempts, rows seen that should not have been
(must be 0) and its duration — no tenant names or ids — in ``selftest_runs``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from dashboard import tenancy

SLUGS = ("selftest-a", "selftest-b", "selftest-c")


@dataclass
class Fixtures:
    """The self-test's own principals (ids only)."""

    org_a: uuid.UUID
    org_b: uuid.UUID
    org_c: uuid.UUID  # suspended
    user_a: uuid.UUID
    user_b: uuid.UUID
    user_c: uuid.UUID
    key_a: uuid.UUID
    key_b: uuid.UUID
    revoked_key_a: uuid.UUID


@dataclass
class Result:
    tables: int = 0
    functions: int = 0
    attempts: int = 0
    leaks: int = 0
    findings: list[str] = field(default_factory=list)  # table/function names, never data
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.leaks == 0

    def saw(self, what: str, count: int) -> None:
        self.attempts += 1
        if count:
            self.leaks += count
            self.findings.append(f"{what}: {count}")


def tenant_tables(session: Session) -> list[str]:
    """Every table under forced RLS with an org_id column, from the catalogue."""
    return list(session.scalars(text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
        "   AND c.relforcerowsecurity"
        "   AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid"
        "                AND a.attname = 'org_id' AND NOT a.attisdropped)"
        "   AND has_any_column_privilege(c.oid, 'SELECT')"
        " ORDER BY c.relname")))


def context_functions(session: Session) -> list[str]:
    """Argument-free SECURITY DEFINER functions returning rows or a value, callable by us."""
    return list(session.scalars(text(
        "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = current_schema() AND p.prosecdef AND p.pronargs = 0"
        "   AND p.provolatile <> 'v' AND p.prorettype <> 'trigger'::regtype"
        "   AND has_function_privilege(p.oid, 'EXECUTE')"
        " ORDER BY p.proname")))


def _rows_of(session: Session, table: str, org: uuid.UUID | None, *, other_than: bool) -> int:
    op = "<>" if other_than else "="
    if org is None:
        return session.scalar(text(f'SELECT count(*) FROM "{table}"'))
    return session.scalar(text(f'SELECT count(*) FROM "{table}" WHERE org_id {op} :o'),
                          {"o": org})


def _probe_tables(session: Session, tables: list[str], result: Result, label: str,
                  *, only_org: uuid.UUID | None = None, forbidden: uuid.UUID | None = None):
    for table in tables:
        with session.begin_nested():
            if only_org is not None:  # everything seen must be this org's
                result.saw(f"{label} {table}", _rows_of(session, table, only_org,
                                                        other_than=True))
            if forbidden is not None:
                result.saw(f"{label} {table}", _rows_of(session, table, forbidden,
                                                        other_than=False))
            if only_org is None and forbidden is None:  # nothing at all may be seen
                result.saw(f"{label} {table}", _rows_of(session, table, None, other_than=False))


def _as(connection, context: tenancy.TenantContext) -> Session:
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    tenancy.bind(session, context)
    return session


def run(engine, fixtures: Fixtures) -> Result:
    """Every probe, on one connection of ``engine`` (the runtime role)."""
    started = time.monotonic()
    result = Result()
    f = fixtures
    with engine.connect() as connection:
        catalogue = Session(bind=connection)
        tables = tenant_tables(catalogue)
        functions = context_functions(catalogue)
        catalogue.close()
        connection.rollback()
        result.tables, result.functions = len(tables), len(functions)
        plan = [
            ("member of A for A", tenancy.TenantContext(user_id=f.user_a, org_id=f.org_a),
             {"only_org": f.org_a}),
            ("member of A naming B", tenancy.TenantContext(user_id=f.user_a, org_id=f.org_b),
             {}),
            ("key of A naming B", tenancy.TenantContext(credential_id=f.key_a, org_id=f.org_b),
             {}),
            ("B's own context", tenancy.TenantContext(credential_id=f.key_b, org_id=f.org_b),
             {"only_org": f.org_b}),
            ("key of A for A after B", tenancy.TenantContext(credential_id=f.key_a,
                                                             org_id=f.org_a),
             {"forbidden": f.org_b}),
            ("revoked key of A", tenancy.TenantContext(credential_id=f.revoked_key_a,
                                                       org_id=f.org_a), {}),
            ("member of suspended C", tenancy.TenantContext(user_id=f.user_c, org_id=f.org_c),
             {}),
        ]
        for label, context, expect in plan:  # one connection, one transaction each
            session = _as(connection, context)
            try:
                _probe_tables(session, tables, result, label, **expect)
                if label == "member of A naming B":
                    _probe_functions(session, functions, f.org_b, result)
            finally:
                session.rollback()
                session.close()
                connection.rollback()
    result.duration_ms = int((time.monotonic() - started) * 1000)
    return result


def _probe_functions(session: Session, functions: list[str], forbidden: uuid.UUID,
                     result: Result) -> None:
    for name in functions:
        try:
            with session.begin_nested():
                rows = session.execute(text(f'SELECT * FROM "{name}"()')).all()
        except DBAPIError:  # refused outright (e.g. staff only): that is not a leak
            rows = []
        seen = sum(1 for row in rows if str(forbidden) in " ".join(map(str, row)))
        result.saw(f"function {name}", seen)


def record(session: Session, result: Result) -> None:
    session.execute(text(
        "INSERT INTO selftest_runs (tables_probed, functions_probed, attempts, leaks,"
        " findings, duration_ms) VALUES (:t, :f, :a, :l, :x, :d)"),
        {"t": result.tables, "f": result.functions, "a": result.attempts, "l": result.leaks,
         "x": result.findings[:50], "d": result.duration_ms})


def history(session: Session, limit: int = 30) -> list:
    return list(session.execute(text(
        "SELECT started_at, tables_probed, functions_probed, attempts, leaks, duration_ms"
        "  FROM selftest_runs ORDER BY started_at DESC LIMIT :n"), {"n": limit}))


# ----------------------------------------------------------------------------- fixtures
def _person(session: Session, label: str):
    """The self-test's person ``label`` (a fixed id per address): users is person-scoped, so
    it is made through the narrow ``people.create_user``, acting as its own id."""
    from dashboard import people

    email = f"{label}@selftest.tenantdesk.invalid"  # .invalid: never a deliverable address
    user_id = uuid.uuid5(uuid.NAMESPACE_URL, f"tenantdesk-selftest:{email}")
    if not people.email_taken(session, email):  # no password, no SSO identity: no sign-in
        tenancy.bind(session, tenancy.TenantContext(user_id=user_id))
        people.create_user(session, email=email, name=f"Self-test {label}", password_hash=None)
        tenancy.bind(session, tenancy.NOBODY)
    return user_id


def _org(factory, user_id, slug: str) -> tuple[uuid.UUID, bool]:
    """(org id, made just now)."""
    from dashboard.auth import service as auth_service

    with tenancy.scoped_session(factory, tenancy.TenantContext(user_id=user_id)) as session:
        existing = {o.slug: o.org_id for o in auth_service.user_orgs(session)}
        if slug in existing:
            return existing[slug], False
        return session.scalar(text("SELECT app_create_org(:n, :s)"),
                              {"n": f"Tenantdesk self-test {slug[-1].upper()}", "s": slug}), True


def _key(factory, user_id, org_id, name: str, hmac_key: bytes, *, revoked: bool = False):
    from dashboard.apikeys import service as keys
    from dashboard.audit.service import SYSTEM

    context = tenancy.TenantContext(user_id=user_id, org_id=org_id)
    with tenancy.scoped_session(factory, context) as session:
        found = next((k for k in keys.list_keys(session) if k.name == name), None)
        if found is not None:
            return found.id
        key_id = keys.create_key(session, org_id=org_id, name=name, scopes=[],
                                 expires_at=None, created_by=user_id, hmac_key=hmac_key,
                                 actor=SYSTEM).id
        if revoked:
            keys.revoke_key(session, key_id, SYSTEM)
        return key_id


def ensure_fixtures(factory, owner_engine, hmac_key: bytes) -> Fixtures:
    """The self-test's orgs, people and keys, made on the first run and reused after."""
    with tenancy.scoped_session(factory, tenancy.NOBODY) as session:
        users = {label: _person(session, label) for label in ("a", "b", "c", "staff")}
    made = {slug[-1]: _org(factory, users[slug[-1]], slug) for slug in SLUGS}
    orgs = {label: org_id for label, (org_id, _) in made.items()}
    key_a = _key(factory, users["a"], orgs["a"], "self-test", hmac_key)
    key_b = _key(factory, users["b"], orgs["b"], "self-test", hmac_key)
    revoked = _key(factory, users["a"], orgs["a"], "self-test revoked", hmac_key, revoked=True)
    if made["c"][1]:
        _suspend(factory, owner_engine, users["staff"], orgs["c"])
    return Fixtures(orgs["a"], orgs["b"], orgs["c"], users["a"], users["b"], users["c"],
                    key_a, key_b, revoked)


def _suspend(factory, owner_engine, staff_id, org_id) -> None:
    # Suspending takes staff: the self-test's own staff person, who cannot sign in.
    with owner_engine.begin() as owner:  # users is under forced RLS: the operator function
        owner.execute(text("SELECT app_operator_set_staff(:e, true)"),
                      {"e": "staff@selftest.tenantdesk.invalid"})
    with tenancy.scoped_session(factory, tenancy.TenantContext(user_id=staff_id)) as session:
        session.execute(text("SELECT app_org_lifecycle(:o, 'suspend', 'self-test',"
                             " 'isolation self-test fixture')"), {"o": org_id})
