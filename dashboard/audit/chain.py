"""The audit log's hash chain: verify it, and sign checkpoints of its head. No Flask here.

The chain itself is written by the database (migration 0021_audit_chain): every audit row
gets ``seq``, ``prev_hash`` and ``row_hash`` in the inserting transaction. This module asks
the database to recompute it (``app_audit_verify_current`` for the org a session acts for;
``app_audit_verify_all`` for the operator) and signs checkpoints with the installation's
access-token signing key (ES256 compact JWS, key published at /.well-known/jwks.json), so a
customer holding a checkpoint can prove rows were later removed or rewritten.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from joserfc import jws
from sqlalchemy import text
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Verdict:
    checked: int
    head_seq: int
    first_broken_seq: int | None
    problem: str | None
    checkpoint_seq: int | None
    head_hash: str | None = None
    org_slug: str | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None


def verify_current(session: Session) -> Verdict:
    """The chain of the org ``session`` acts for (RLS context); empty without one."""
    row = session.execute(text("SELECT * FROM app_audit_verify_current()")).one_or_none()
    if row is None:
        return Verdict(0, 0, None, None, None)
    return Verdict(row.checked, row.head_seq, row.first_broken_seq, row.problem,
                   row.checkpoint_seq, row.head_hash)


def verify_all(owner_connection, slug: str | None = None) -> list[Verdict]:
    """Every org's chain (or one org's), as the operator (owner role) runs it."""
    rows = owner_connection.execute(text("SELECT * FROM app_audit_verify_all()")).all()
    return [Verdict(r.checked, r.head_seq, r.first_broken_seq, r.problem, r.checkpoint_seq,
                    org_slug=r.slug)
            for r in rows if slug is None or r.slug == slug]


def sign_checkpoints(owner_connection, signing_key, now: datetime | None = None) -> int:
    """Sign the head of every org whose chain moved since its last checkpoint."""
    heads = owner_connection.execute(text("SELECT * FROM app_audit_heads_to_checkpoint()")).all()
    stamp = (now or datetime.now(UTC)).isoformat()
    for head in heads:
        payload = json.dumps({"org": str(head.org_id), "seq": head.seq, "head": head.head_hash,
                              "at": stamp}, separators=(",", ":"), sort_keys=True)
        signature = jws.serialize_compact({"alg": "ES256", "kid": signing_key.kid},
                                          payload.encode(), signing_key.key)
        owner_connection.execute(
            text("SELECT app_audit_store_checkpoint(:o, :s, :h, :k, :sig)"),
            {"o": head.org_id, "s": head.seq, "h": head.head_hash, "k": signing_key.kid,
             "sig": signature})
    return len(heads)


def read_checkpoint(signature: str, public_keys) -> dict:
    """The payload of a checkpoint whose ES256 signature verifies with ``public_keys``."""
    token = jws.deserialize_compact(signature, public_keys, algorithms=["ES256"])
    return json.loads(token.payload)


# ----------------------------------------------------------------------------- offline form
# The check of an export is scripts/verify_audit_export.py (standard library only), so a
# customer can run it without Tenantdesk.


def export_rows(session: Session):
    """The org's audit rows in chain order with the exact text the hashes cover (the JSON
    lines export). RLS decides the org."""
    result = session.execute(text(
        "SELECT e.org_id::text AS org_id, e.id::text AS id, e.seq,"
        "       to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS at,"
        "       e.actor_user_id::text AS actor_user_id, e.actor, e.action, e.target, e.ip,"
        "       e.user_agent, e.details::text AS details, e.prev_hash, e.row_hash"
        "  FROM audit_events e ORDER BY e.seq"))
    for row in result.mappings():
        yield dict(row)
