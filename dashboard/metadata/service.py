"""Reading, replacing and filtering metadata rows. No Flask; the caller passes its session.

One table per owner (``org_metadata``, ``member_metadata``, ``api_key_metadata``,
``usage_event_metadata``), each a tenant table under the gate: a query here never names
another org's rows, and if it did the gate would return none. A change that alters anything
writes an audit row in the same transaction, so the events outbox carries it
(``organization.updated``, ``membership.updated``, ``api_key.updated``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from dashboard.audit.service import Actor, record_audit
from dashboard.metadata import rules


@dataclass(frozen=True)
class Owner:
    table: str
    column: str | None  # the owner's id column; None: the org itself


ORG = Owner("org_metadata", None)
MEMBER = Owner("member_metadata", "user_id")
API_KEY = Owner("api_key_metadata", "credential_id")


def read(session: Session, owner: Owner, org_id: uuid.UUID,
         ids: Iterable[uuid.UUID] = ()) -> dict:
    """The org's metadata (``owner`` ORG), or ``{id: metadata}`` for the given ids (absent
    ids have none)."""
    if owner.column is None:
        rows = session.execute(
            text(f"SELECT key, value FROM {owner.table} WHERE org_id = :o"), {"o": org_id})
        return {r.key: r.value for r in rows}
    ids = list(ids)
    found: dict[uuid.UUID, dict[str, str]] = {}
    if not ids:
        return found
    rows = session.execute(
        text(f"SELECT {owner.column} AS id, key, value FROM {owner.table}"
             f" WHERE org_id = :o AND {owner.column} = ANY(:ids) ORDER BY key"),
        {"o": org_id, "ids": ids},
    )
    for row in rows:
        found.setdefault(row.id, {})[row.key] = row.value
    return found


def _write(session: Session, owner: Owner, org_id: uuid.UUID, owner_id: uuid.UUID | None,
           values: dict[str, str], *, replace: bool) -> None:
    where = "org_id = :o" + (f" AND {owner.column} = :id" if owner.column else "")
    params = {"o": org_id, "id": owner_id, "keys": list(values), "values": list(values.values())}
    if replace:
        session.execute(text(f"DELETE FROM {owner.table} WHERE {where}"), params)
    if values:
        columns = "org_id, " + (f"{owner.column}, " if owner.column else "") + "key, value"
        owner_value = ":o, " + (":id, " if owner.column else "")
        session.execute(
            text(f"INSERT INTO {owner.table} ({columns})"
                 f" SELECT {owner_value}k, v FROM unnest(CAST(:keys AS text[]),"
                 " CAST(:values AS text[])) AS t(k, v)"),
            params,
        )


def replace_org_metadata(session: Session, org_id: uuid.UUID, values: dict[str, str], *,
                         actor: Actor, target: str) -> dict[str, str]:
    """Replace the org's whole map; audited as ``org.update`` when anything changed."""
    values = rules.check(values)
    before = read(session, ORG, org_id)
    if before != values:
        _write(session, ORG, org_id, None, values, replace=True)
        record_audit(session, org_id=org_id, actor=actor, action="org.update", target=target,
                     before={"metadata": before}, after={"metadata": values})
    return values


def replace_member_metadata(session: Session, org_id: uuid.UUID, user_id: uuid.UUID,
                            values: dict[str, str], *, actor: Actor, target: str
                            ) -> dict[str, str]:
    """Replace a member's whole map; audited as ``member.update`` when anything changed."""
    values = rules.check(values)
    before = read(session, MEMBER, org_id, [user_id]).get(user_id, {})
    if before != values:
        _write(session, MEMBER, org_id, user_id, values, replace=True)
        record_audit(session, org_id=org_id, actor=actor, action="member.update",
                     target=target, before={"metadata": before}, after={"metadata": values})
    return values


def add_key_metadata(session: Session, org_id: uuid.UUID, credential_id: uuid.UUID,
                     values: dict[str, str]) -> None:
    """A new key's metadata, given when the key is made."""
    _write(session, API_KEY, org_id, credential_id, rules.check(values), replace=False)


def replace_key_metadata(session: Session, org_id: uuid.UUID, credential_id: uuid.UUID,
                         values: dict[str, str]) -> None:
    """Replace a key's whole map (the JSON API; the caller audits: apikeys/service.py)."""
    _write(session, API_KEY, org_id, credential_id, rules.check(values), replace=True)


def staff_org_metadata(session: Session, org_id: uuid.UUID) -> dict[str, str]:
    """For the staff console (the definer function checks that the caller is staff)."""
    rows = session.execute(text("SELECT * FROM app_staff_org_metadata(:o)"), {"o": org_id})
    return {r.key: r.value for r in rows}
