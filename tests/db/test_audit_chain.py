"""The tamper-evident audit log: the database chains each org's rows in the inserting
transaction; `verify` (web, CLI) names the first broken row after each of four kinds of
tampering done as the table owner would; the export checks out offline with the standard-
library script; the runtime role can neither forge the chain nor verify another org's."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from dashboard import tenancy
from dashboard.audit import chain
from dashboard.audit.service import Actor, record_audit
from dashboard.migrate import alembic_config
from tests import factories
from tests.helpers import in_threads, login

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verify_audit_export.py"


@pytest.fixture
def org_with_log(client):
    org, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, "enterprise")  # audit export is a plan feature
    for n in range(6):
        factories.execute("INSERT INTO audit_events (org_id, actor, action, target, details)"
                          " VALUES (:o, 'someone', 'test.event', :t, CAST(:d AS jsonb))",
                          o=org.id, t=f"thing:{n}", d=json.dumps({"n": n, "text": "ü\u00e9"}))
    login(client, people["owner"])
    return org


def _verify_page(client, org) -> str:
    response = client.get(f"/o/{org.slug}/audit/verify")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _owner_verdict(database_urls, org):
    engine = create_engine(database_urls.owner)
    try:
        with engine.connect() as connection:
            return chain.verify_all(connection, org.slug)[0]
    finally:
        engine.dispose()


def _seq(org, seq):
    return factories.execute("SELECT id FROM audit_events WHERE org_id = :o AND seq = :s",
                             o=org.id, s=seq).scalar()


def test_an_untouched_log_verifies_everywhere(client, database_urls, org_with_log, tmp_path):
    org = org_with_log
    page = _verify_page(client, org)
    assert 'data-testid="audit-intact"' in page
    verdict = _owner_verdict(database_urls, org)
    assert verdict.intact and verdict.checked >= 6
    export = tmp_path / "audit.jsonl"
    export.write_bytes(client.get(f"/o/{org.slug}/audit.jsonl").get_data())
    run = subprocess.run([sys.executable, str(SCRIPT), str(export)], capture_output=True,
                         text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"intact: {verdict.checked} entries" in run.stdout
    # The script catches an edited export too.
    lines = export.read_text(encoding="utf-8").splitlines()
    entry = json.loads(lines[2])
    entry["actor"] = "somebody else"
    lines[2] = json.dumps(entry, ensure_ascii=False)
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = subprocess.run([sys.executable, str(SCRIPT), str(export)], capture_output=True,
                         text=True, check=False)
    assert run.returncode == 1 and "entry 3 was changed" in run.stdout


def test_an_edited_row_is_named(client, database_urls, org_with_log):
    org = org_with_log
    factories.execute("UPDATE audit_events SET details = '{\"n\": 99}' WHERE org_id = :o"
                      " AND seq = 3", o=org.id)
    page = _verify_page(client, org)
    assert 'data-testid="audit-broken"' in page and "<strong>3</strong>" in page
    verdict = _owner_verdict(database_urls, org)
    assert verdict.first_broken_seq == 3 and "changed" in verdict.problem


def test_a_deleted_row_is_named(client, database_urls, org_with_log):
    org = org_with_log
    factories.execute("DELETE FROM audit_events WHERE org_id = :o AND seq = 4", o=org.id)
    verdict = _owner_verdict(database_urls, org)
    assert verdict.first_broken_seq == 4 and "missing" in verdict.problem


def test_reordered_rows_are_named(client, database_urls, org_with_log):
    org = org_with_log
    two, five = _seq(org, 2), _seq(org, 5)
    factories.execute("UPDATE audit_events SET seq = -2 WHERE org_id = :o AND id = :i",
                      o=org.id, i=two)
    factories.execute("UPDATE audit_events SET seq = 2 WHERE org_id = :o AND id = :i",
                      o=org.id, i=five)
    factories.execute("UPDATE audit_events SET seq = 5 WHERE org_id = :o AND id = :i",
                      o=org.id, i=two)
    verdict = _owner_verdict(database_urls, org)
    assert verdict.first_broken_seq == 2 and "does not follow" in verdict.problem


def test_a_tail_cut_after_a_checkpoint_is_named(app, client, database_urls, org_with_log):
    from dashboard.auth.access_tokens import keyring_for

    org = org_with_log
    engine = create_engine(database_urls.owner)
    try:
        with engine.begin() as connection:
            assert chain.sign_checkpoints(connection, keyring_for(app).current()) >= 1
        signature = factories.execute("SELECT signature FROM audit_checkpoints WHERE org_id = :o",
                                      o=org.id).scalar()
        payload = chain.read_checkpoint(signature, keyring_for(app).public_keyset())
        assert payload["org"] == str(org.id) and payload["seq"] >= 6
        head = payload["seq"]
        factories.execute("DELETE FROM audit_events WHERE org_id = :o AND seq >= :s",
                          o=org.id, s=head - 1)  # the last two rows: the chain itself still fits
        factories.execute("UPDATE audit_chain_heads SET seq = :s WHERE org_id = :o",
                          s=head - 2, o=org.id)
        with engine.connect() as connection:
            verdict = chain.verify_all(connection, org.slug)[0]
    finally:
        engine.dispose()
    assert verdict.first_broken_seq == head - 1
    assert "checkpoint vouches" in verdict.problem


def _runtime_writer(app, org):
    sessions = app.extensions["tenantdesk.db"].sessionmaker
    owner_id = factories.execute(
        "SELECT user_id FROM memberships WHERE org_id = :o AND role = 'owner'", o=org.id
    ).scalar()
    return sessions, tenancy.TenantContext(user_id=owner_id, org_id=org.id)


def _verdict(sessions, context):
    with tenancy.scoped_session(sessions, context) as session:
        return chain.verify_current(session)


def test_the_runtime_role_cannot_forge_the_chain_or_verify_another_org(app, org_with_log):
    org = org_with_log
    other, _ = factories.org_with_members(owner="owner")
    sessions, context = _runtime_writer(app, org)
    with tenancy.scoped_session(sessions, context) as session:
        session.execute(text(
            "INSERT INTO audit_events (org_id, actor, action, seq, prev_hash, row_hash)"
            " VALUES (:o, 'forger', 'forged', 1, 'x', 'y')"), {"o": org.id})
        assert chain.verify_current(session).intact  # the trigger wrote the real links
    with tenancy.scoped_session(sessions, context) as session, \
            pytest.raises(ProgrammingError, match="permission denied"):
        session.execute(text("SELECT * FROM app_audit_verify(:o)"), {"o": other.id})
    with tenancy.scoped_session(sessions, tenancy.NOBODY) as session:
        assert chain.verify_current(session).checked == 0  # no context, nothing


def test_concurrent_writers_of_one_org_keep_one_chain(app, org_with_log):
    org = org_with_log
    sessions, context = _runtime_writer(app, org)
    before = _verdict(sessions, context).checked

    def write(n):
        for i in range(5):
            with tenancy.scoped_session(sessions, context) as session:
                record_audit(session, org_id=org.id, actor=Actor(label=f"w{n}"),
                             action="test.concurrent", target=f"{n}:{i}")

    assert in_threads(write, 4) == []
    verdict = _verdict(sessions, context)
    assert verdict.intact and verdict.checked == before + 20


def _head(org):
    return factories.execute(
        "SELECT seq, prev_hash, head_hash FROM audit_chain_heads WHERE org_id = :o", o=org.id
    ).one_or_none()


def test_the_head_is_advanced_by_one_write_and_names_the_hash_before_it(app, org_with_log):
    """One UPDATE per event (migration 0042): the head keeps the hash it had before, which is
    what the new row links to; the rows verify with the original canonical text."""
    org = org_with_log
    sessions, context = _runtime_writer(app, org)
    before = _head(org)
    with tenancy.scoped_session(sessions, context) as session:
        record_audit(session, org_id=org.id, actor=Actor(label="x"), action="test.one")
    after = _head(org)
    last = factories.execute(
        "SELECT seq, prev_hash, row_hash FROM audit_events"
        " WHERE org_id = :o ORDER BY seq DESC LIMIT 1",
        o=org.id,
    ).one()
    assert (after.seq, after.prev_hash, after.head_hash) == (
        before.seq + 1,
        before.head_hash,
        last.row_hash,
    )
    assert (last.seq, last.prev_hash) == (after.seq, before.head_hash)
    with tenancy.scoped_session(sessions, context) as session:
        assert chain.verify_current(session).intact


def test_concurrent_first_events_of_an_org_make_one_chain(app, client):
    """The org's first event inserts its head; a second first event, begun before the first
    committed, waits on that insert and then advances the head it wrote (not a second chain,
    not a duplicate seq). Then a burst of first events on another fresh org."""
    org, _ = factories.org_with_members(owner="owner")
    assert _head(org) is None
    sessions, context = _runtime_writer(app, org)
    engine = app.extensions["tenantdesk.db"].engine
    errors = []

    def second():
        try:
            with tenancy.scoped_session(sessions, context) as session:
                record_audit(
                    session, org_id=org.id, actor=Actor(label="b"), action="test.first", target="b"
                )
        except Exception as exc:  # surfaced below
            errors.append(exc)

    first = sessions()
    first.info["tenant_context"] = context
    try:
        record_audit(
            first, org_id=org.id, actor=Actor(label="a"), action="test.first", target="a"
        )  # the head is inserted, not committed
        waiter = threading.Thread(target=second)
        waiter.start()
        waited = False
        with engine.connect() as probe:  # until the second writer waits on the head's insert
            for _ in range(150):
                waited = bool(
                    probe.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                            " AND query LIKE 'INSERT INTO audit_events%'"
                        )
                    ).scalar()
                )
                probe.rollback()  # pg_stat_activity is a snapshot per transaction
                if waited:
                    break
                waiter.join(0.02)
        first.commit()
    finally:
        first.close()
    waiter.join()
    assert not errors
    assert waited
    rows = factories.execute(
        "SELECT seq, target, prev_hash, row_hash FROM audit_events WHERE org_id = :o ORDER BY seq",
        o=org.id,
    ).all()
    assert [(r.seq, r.target) for r in rows] == [(1, "a"), (2, "b")]
    assert rows[0].prev_hash == "0" * 64 and rows[1].prev_hash == rows[0].row_hash
    assert tuple(_head(org)) == (2, rows[0].row_hash, rows[1].row_hash)
    verdict = _verdict(sessions, context)
    assert verdict.intact and verdict.checked == 2

    burst_org, _ = factories.org_with_members(owner="owner")
    sessions, context = _runtime_writer(app, burst_org)
    start = threading.Barrier(6)

    def burst(n):
        with tenancy.scoped_session(sessions, context) as session:
            start.wait(5)
            record_audit(
                session,
                org_id=burst_org.id,
                actor=Actor(label=f"w{n}"),
                action="test.first",
                target=str(n),
            )

    assert in_threads(burst, 6) == []
    verdict = _verdict(sessions, context)
    assert verdict.intact and verdict.checked == 6 and _head(burst_org).seq == 6


# Each row's canonical text by both functions, and its hash recomputed from the first.
_CANONICAL_TEXTS = """
SELECT e.seq, app_audit_canonical(e) AS canonical, app_audit_canonical_at(e, e.seq) AS at_seq,
       encode(sha256(convert_to(e.prev_hash || chr(10) || app_audit_canonical(e), 'UTF8')),
              'hex') = e.row_hash AS hash_fits
  FROM audit_events e WHERE e.org_id = :o ORDER BY e.seq
"""

_CANONICAL_DEFINITION = """
SELECT p.prosrc, p.provolatile, p.prosecdef, p.proconfig, pg_get_userbyid(p.proowner),
       p.proacl::text
  FROM pg_proc p WHERE p.oid = 'public.app_audit_canonical(audit_events)'::regprocedure
"""

CANONICAL_REVISION = "0044_audit_canonical_one_text"


def _org_with_every_kind_of_field(app, org):
    """Rows with NULLs where they may be, an actor user, text outside ASCII and a
    timestamp with microseconds, written by the runtime role (the trigger's text)."""
    sessions, context = _runtime_writer(app, org)
    with tenancy.scoped_session(sessions, context) as session:
        actor = Actor(label="ö", user_id=context.user_id, ip="10.0.0.1", user_agent="agent ✓")
        record_audit(session, org_id=org.id, actor=actor, action="test.fields",
                     target="x\u001fy", before={"a": [1, None]}, after={"b": "ü"})
    factories.execute("INSERT INTO audit_events (org_id, actor, action, at, details)"
                      " VALUES (:o, 'op', 'test.bare', '2026-01-02 03:04:05.678901+05',"
                      " '{}')", o=org.id)


def test_both_canonical_functions_give_the_text_every_hash_was_made_of(app, org_with_log):
    """Migration 0044: app_audit_canonical(e) is app_audit_canonical_at(e, e.seq); the
    trigger hashed each row with the second, verify reads it with the first."""
    org = org_with_log
    _org_with_every_kind_of_field(app, org)
    rows = factories.execute(_CANONICAL_TEXTS, o=org.id).all()
    assert len(rows) >= 8
    assert [r.seq for r in rows if r.canonical != r.at_seq or not r.hash_fits] == []
    assert "app_audit_canonical_at(e, e.seq)" in factories.execute(
        _CANONICAL_DEFINITION).one().prosrc


def test_the_canonical_migration_goes_down_and_up_with_the_same_texts(
        app, database_urls, org_with_log):
    """Down to 0042 (0021's own text), up again: the same text for every row, byte for
    byte, and the function keeps its owner, grants and settings."""
    org = org_with_log
    _org_with_every_kind_of_field(app, org)
    now = factories.execute(_CANONICAL_TEXTS, o=org.id).all()
    defined = factories.execute(_CANONICAL_DEFINITION).one()
    owner = database_urls.owner
    config = alembic_config(owner + ("&" if "?" in owner else "?")
                            + "options=-c%20lock_timeout%3D10000")
    factories.session().close()  # no open transaction of ours holds a lock
    command.downgrade(config, f"{CANONICAL_REVISION}-1")
    try:
        original = factories.execute(_CANONICAL_TEXTS, o=org.id).all()
        restored = factories.execute(_CANONICAL_DEFINITION).one()
    finally:
        factories.session().close()
        command.upgrade(config, "heads")
    assert "app_audit_canonical_at" not in restored.prosrc  # 0021's body is back
    assert [r.canonical.encode() for r in original] == [r.canonical.encode() for r in now]
    assert all(r.hash_fits for r in original)
    assert restored[1:] == defined[1:]
    assert tuple(factories.execute(_CANONICAL_DEFINITION).one()) == tuple(defined)
    assert _verdict(*_runtime_writer(app, org)).intact
