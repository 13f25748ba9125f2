"""Member list, role changes, removal and leaving. No Flask; the caller passes its session.

Every rule about *who* may do what to *whom* lives in ``roles.py``; this module applies it and
keeps the org's last owner. Changes to an org's members queue behind one transaction-level
lock, then lock rows in one order (owner rows ``FOR UPDATE``, by user id, before the count),
so two owners demoting each other at the same moment cannot both succeed, and the second
waits and is refused (409) rather than deadlocking.
"""

from __future__ import annotations

import base64
import json
import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from dashboard import first_statement, tenancy
from dashboard.audit.service import Actor, record_audit
from dashboard.licenses import service as licenses
from dashboard.members import roles as role_rules
from dashboard.members import search_totals
from dashboard.members.roles import OWNER, Editor, RoleInfo, may_grant, may_manage, role_of
from dashboard.models import Membership, User

PER_PAGE_DEFAULT = 50
PER_PAGE_MAX = 100
SEARCH_MAX = 100


class MemberError(Exception):
    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class MemberRow(NamedTuple):
    """One member as the list shows them (a named tuple: a page builds 50 or 100 of these,
    and a frozen dataclass costs several times more to build). ``user_id`` is the UUID, or
    its text where the caller asked for text ids (``PageWanted.text_ids``)."""

    user_id: uuid.UUID | str
    name: str
    email: str
    role: RoleInfo
    joined_at: datetime
    last_active_at: datetime | None
    is_self: bool
    can_change_role: bool
    can_remove: bool


@dataclass(frozen=True)
class MemberPage:
    rows: list[MemberRow]
    total: int
    page: int
    per_page: int
    query: str
    role: str
    start: int = 0  # members before this page (its first row is number start + 1)
    next_cursor: str | None = None  # keyset position after the last row, if more follow
    prev_cursor: str | None = None  # keyset position before the first row, if any precede

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.start > 0

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def encode_cursor(sort_name: str, user_id: uuid.UUID, position: int) -> str:
    """A page boundary: the row's (sort_name, user_id) key and its position (for "51-100")."""
    raw = json.dumps([sort_name, str(user_id), position], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, uuid.UUID, int] | None:
    """None for anything that is not a cursor we wrote: the list starts over, no error."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sort_name, user_id, position = json.loads(raw)
        return str(sort_name)[:400], uuid.UUID(str(user_id)), max(0, int(position))
    except (ValueError, TypeError):
        return None


def _row(editor: Editor, roles: dict[str, RoleInfo], record, *, can_edit: bool,
         can_remove: bool) -> MemberRow:
    role = role_of(roles, record.role)
    manageable = may_manage(editor, role)
    is_self = record.user_id == editor.user_id
    return MemberRow(
        user_id=record.user_id,
        name=record.name,
        email=record.email,
        role=role,
        joined_at=record.created_at,
        last_active_at=record.last_active_at,
        is_self=is_self,
        can_change_role=can_edit and manageable,
        can_remove=can_remove and manageable and not is_self,
    )


def _rows(editor: Editor, roles: dict[str, RoleInfo], records, self_id) -> list[MemberRow]:
    """``_row`` for each record, each role's verdicts worked out once (a page has a few
    roles and up to 100 rows). ``self_id``: the editor's id as the records hold ids."""
    can_edit = "roles.edit" in editor.permissions
    can_remove = "members.remove" in editor.permissions
    verdicts: dict[str, tuple[RoleInfo, bool, bool]] = {}
    rows = []
    for record in records:
        verdict = verdicts.get(record.role)
        if verdict is None:
            role = role_of(roles, record.role)
            manageable = may_manage(editor, role)
            verdict = verdicts[record.role] = (role, can_edit and manageable,
                                               can_remove and manageable)
        role, may_change, may_remove = verdict
        is_self = record.user_id == self_id
        rows.append(MemberRow(record.user_id, record.name, record.email, role,
                              record.created_at, record.last_active_at, is_self, may_change,
                              may_remove and not is_self))
    return rows


def _member_columns():
    # The person's name and email as the membership keeps them (migration 0040): one tenant
    # table under the org's policy, no look-up in users through its own.
    return select(
        Membership.user_id, Membership.person_name.label("name"),
        Membership.person_email.label("email"), Membership.role, Membership.created_at,
        Membership.last_active_at,
    )


# The list's statement, as SQL text built once per shape (search or not, role filter or not,
# metadata filter or not, first page / after / before a cursor) rather than as a SQLAlchemy
# expression per request: building and cache-keying the expression cost ~1 ms of CPU a page,
# more than PostgreSQL spends running it. Values are always bound parameters.
_HAS_METADATA = (
    " AND EXISTS (SELECT 1 FROM member_metadata x WHERE x.org_id = {m}.org_id"
    " AND x.user_id = {m}.user_id AND x.key = CAST(:meta_key AS varchar)"
    " AND x.value = CAST(:meta_value AS varchar))"
)

# What a row of the page shows, all from the membership: the person's name and email are
# the membership's copies (migration 0040), so the statement reads only the org's own rows,
# each table reference under the one tenant policy (one gate call each).
_SHOWN = ("{m}.person_name AS name, {m}.person_email AS email,"
          " {m}.role, {m}.created_at, {m}.last_active_at")


def _filters(alias: str, search: bool, role: bool, metadata: bool) -> str:
    # No ESCAPE clause: the backslash ``_like`` escapes with is LIKE's default escape. Written
    # out, ``ESCAPE '\'`` becomes like_escape(pattern, '\'), which a generic plan (the
    # prepared statement's) evaluates again for every row it filters: 15-20 % of the
    # search statement's CPU (tests/db/test_members_order.py searches for %, _ and \).
    sql = f" AND {alias}.search_key LIKE CAST(:pattern AS varchar)" if search else ""
    if role:
        sql += f" AND {alias}.role = CAST(:role AS varchar)"
    if metadata:
        sql += _HAS_METADATA.format(m=alias)
    return sql


def _keyset(alias: str, mode: str, limit: int) -> tuple[str, str, str]:
    """(cursor condition, ORDER BY, LIMIT/OFFSET) of a page in (sort_name, user_id) order.

    The LIMIT is written into the SQL (an int of ours, at most PER_PAGE_MAX + 1) and the
    first page has no OFFSET: with either as a parameter PostgreSQL never keeps a generic
    plan for the page (it guesses 10 % of the org's rows) and plans it again on every
    execution of the prepared statement, RLS policies included.
    """
    limit_sql = f" LIMIT {int(limit)}"
    if mode == "first":
        return "", f"{alias}.sort_name, {alias}.user_id", limit_sql
    if mode == "offset":
        return ("", f"{alias}.sort_name, {alias}.user_id",
                limit_sql + " OFFSET CAST(:offset AS bigint)")
    after = mode == "after"
    cursor = (f"({alias}.sort_name, {alias}.user_id) {'>' if after else '<'}"
              " (CAST(:cursor_name AS varchar), CAST(:cursor_id AS uuid))")
    direction = "" if after else " DESC"
    return cursor, f"{alias}.sort_name{direction}, {alias}.user_id{direction}", limit_sql


@lru_cache(maxsize=256)
def _list_sql(search: bool, role: bool, metadata: bool, mode: str, limit: int,
              text_ids: bool = False, explicit_org: bool = False):
    """One page (+1 row, to know whether more follow) in (sort_name, user_id) order from the
    index inside the org, and the total.

    ``mode``: "first" (the first rows), "offset" (LIMIT/OFFSET), "after" or "before" a
    (sort_name, user_id) cursor; ``limit``: the rows to read; ``text_ids``: the user id as
    text (PostgreSQL's cast costs less than psycopg making a UUID and Python its text).

    No org filter of its own: each table's policy (``org_id = (SELECT app_current_org())``)
    is the org filter, and it picks the same index as ``org_id = $1`` would. Written out as
    well, PostgreSQL keeps both: the policy's becomes a one-time filter on a node every row
    passes through (issue 20, session 8: ~5 % of the search's count). ``explicit_org``
    writes ``org_id = :org_id`` into every table reference: the same statement for a reader
    without RLS (bench/rls.py's owner side), never the app's.

    A search (without a metadata filter) also reads the org's member revision and takes
    ``:known_total`` instead of counting when it equals ``:known_revision``
    (``search_totals``); every statement returns ``member_revision`` (NULL where unread).
    """
    def org(alias: str) -> str:
        return f"{alias}.org_id = CAST(:org_id AS uuid)" if explicit_org else "true"

    cursor, order, limit_sql = _keyset("m", mode, limit)
    user_id = "{m}.user_id::text AS user_id" if text_ids else "{m}.user_id"
    where = _filters("m", search, role, metadata) + (f" AND {cursor}" if cursor else "")
    if not (search or metadata):
        # member_counts: a few rows per org (one per role), whatever the org's size.
        total = ("SELECT coalesce(sum(c.members), 0) FROM member_counts c"
                 f" WHERE {org('c')}"
                 + (" AND c.role = CAST(:role AS varchar)" if role else ""))
        return text(
            f"SELECT {user_id.format(m='m')}, {_SHOWN.format(m='m')}, m.sort_name,"
            f" ({total}) AS total, NULL::text AS member_revision"
            f" FROM memberships m WHERE {org('m')}{where}"
            f" ORDER BY {order}{limit_sql}"
        )
    # A search passes over many more memberships than it keeps (a page of 51 read ~740 for
    # "ana" in 5,000): it cuts the page from the index alone (search_key and role are in
    # it, so no table row is read for a member who does not match), then reads the kept
    # rows by key. The total counts the org's matching memberships, from the index too.
    # (One pass with count(*) OVER () instead costs one gate call less but holds every
    # match in memory: 1.6x the CPU for a search matching all 5,000, a spill to disk at
    # 100,000; bench/README.md, fifth pass.)
    total = (f"SELECT count(*) FROM memberships s WHERE {org('s')}"
             + _filters("s", search, role, metadata))
    # The total kept for the org's member revision, when the statement reads that revision
    # (search_totals, migration 0056: a metadata filter's total depends on member_metadata
    # too, which the revision does not follow): no count at all.
    kept = "" if metadata else (" WHEN page.member_revision = CAST(:known_revision AS uuid)"
                                " THEN CAST(:known_total AS bigint)")
    # The org's member revision (one row at most: its key is the org), an initplan read
    # once, carried by the page's rows.
    revision = ("" if metadata else
                f", (SELECT r.revision FROM member_revisions r WHERE {org('r')})"
                " AS member_revision")
    page = (f"SELECT m.user_id, m.sort_name{revision} FROM memberships m"
            f" WHERE {org('m')}{where} ORDER BY {order}{limit_sql}")
    before_page = {"first": "", "offset": "CAST(:offset AS bigint) + "}.get(mode)
    if before_page is not None:
        # A page with fewer rows than asked for ends the matches: the total is known without
        # the count, which passes over every member of the org again (a search matching 5
        # of 5,000: 1.7 -> 0.85 ms; issue 20, session 9). The window counts the page's
        # rows only (at most ``limit``), never the matches; its ORDER BY is the page's own,
        # so the rows keep their order (an empty OVER () made PostgreSQL sort them again).
        page = (f"SELECT p.*, count(*) OVER (ORDER BY p.sort_name, p.user_id ROWS BETWEEN"
                f" UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS page_rows FROM ({page}) AS p")
        total = (f"CASE WHEN page.page_rows < {int(limit)} THEN {before_page}page.page_rows"
                 f"{kept} ELSE ({total}) END")
    else:
        total = f"CASE{kept} ELSE ({total}) END" if kept else f"({total})"
    revision = "NULL::text" if metadata else "page.member_revision::text"
    return text(
        f"SELECT {user_id.format(m='page')}, {_SHOWN.format(m='kept')}, page.sort_name,"
        f" {total} AS total, {revision} AS member_revision"
        f" FROM ({page}) AS page"
        " CROSS JOIN LATERAL (SELECT k.person_name, k.person_email, k.role, k.created_at,"
        f" k.last_active_at FROM memberships k WHERE {org('k')}"
        " AND k.user_id = page.user_id OFFSET 0) AS kept"
        f" ORDER BY {_keyset('page', mode, limit)[1]}"
    )


class PageWanted(NamedTuple):
    """A page of members as the caller asks for it, read by ``list_members`` and
    ``roles_and_members`` alike (``_ask`` cleans it). ``page`` (an offset) or ``after`` /
    ``before`` a cursor from the previous page; ``metadata``: (key, value) a member's
    metadata must hold; ``text_ids``: each row's ``user_id`` as its text, for a caller that
    only writes it out (the HTML table)."""

    query: str = ""
    role: str = ""
    page: int = 1
    per_page: int = PER_PAGE_DEFAULT
    after: str = ""
    before: str = ""
    metadata: tuple[str, str] | None = None
    text_ids: bool = False


class _Ask(NamedTuple):
    """A page asked for, cleaned: the statement that reads it and what reading it needs."""

    sql: str
    params: dict
    query: str
    role: str
    page: int
    per_page: int
    position: tuple[str, uuid.UUID, int] | None
    backwards: bool
    kept_as: tuple | None  # (org, pattern, role) a search's total is kept by (search_totals)


def _ask(roles, wanted: PageWanted, org_id: uuid.UUID | None = None) -> _Ask:
    """The page's statement and parameters. ``org_id``: the context's org, whose kept search
    totals the statement may use (None: it counts)."""
    query, role, page, per_page, after, before, metadata, text_ids = wanted
    query = " ".join((query or "").split())[:SEARCH_MAX]  # no newline: it separates the keys
    role = role if role in roles else ""
    per_page = min(max(1, per_page), PER_PAGE_MAX)
    pattern = _like(query.lower()) if query else None
    position = decode_cursor(after or before) if (after or before) else None
    backwards = position is not None and not after
    params: dict = {}
    kept_as = None
    if pattern is not None:
        params["pattern"] = pattern
        if metadata is None:
            kept_as = (org_id, pattern, role)
            params["known_revision"], params["known_total"] = search_totals.known(*kept_as)
    if role:
        params["role"] = role
    if metadata is not None:
        params["meta_key"], params["meta_value"] = metadata
    if position is not None:
        mode = "before" if backwards else "after"
        params["cursor_name"], params["cursor_id"] = position[0], position[1]
    else:
        page = max(1, page)
        mode = "first" if page == 1 else "offset"
        if page > 1:
            # A page typed by hand can be any number: past the end is an empty page, never
            # an out-of-range error (bigint, and clamped well inside it).
            params["offset"] = min((page - 1) * per_page, 2**62)
    stmt = _list_sql(pattern is not None, bool(role), metadata is not None, mode, per_page + 1,
                     text_ids)
    return _Ask(stmt.text, params, query, role, page, per_page, position, backwards, kept_as)


def _page(ask: _Ask, records: list, editor: Editor, roles: dict[str, RoleInfo],
          text_ids: bool) -> MemberPage:
    per_page, position, backwards = ask.per_page, ask.position, ask.backwards
    more = len(records) > per_page
    records = records[:per_page]
    if backwards:
        records.reverse()
        start = max(0, position[2] - len(records)) if more else 0
    elif position is not None:
        start = position[2]
    else:
        start = (ask.page - 1) * per_page
    rows = _rows(editor, roles, records, str(editor.user_id) if text_ids else editor.user_id)
    total = records[0].total if records else 0
    if ask.kept_as is not None and records:
        search_totals.keep(*ask.kept_as, records[0].member_revision, total)
    next_cursor = prev_cursor = None
    if records and (more or backwards):
        last = records[-1]
        next_cursor = encode_cursor(last.sort_name, last.user_id, start + len(records))
    if records and start > 0 and (more or not backwards):
        first = records[0]
        prev_cursor = encode_cursor(first.sort_name, first.user_id, start)
    return MemberPage(rows, total, start // per_page + 1, per_page, ask.query, ask.role, start,
                      next_cursor, prev_cursor)


def list_members(session: Session, *, editor: Editor, roles: dict[str, RoleInfo],
                 wanted: PageWanted = PageWanted()) -> MemberPage:
    """One page of members of the session's current org (RLS), ordered by name, in one query.

    Pages follow each other by keyset (``after``/``before`` a cursor from the previous page):
    the index (org_id, sort_name, user_id) reads exactly the page's rows, so page 2,000 of a
    100,000-member org costs what page 1 does. ``page`` (an offset) is still understood for
    links typed by hand and for the API's page cursors.
    """
    ask = _ask(roles, wanted, tenancy.context_of(session).org_id)
    records = first_statement.rows(session, ask.sql, ask.params)
    return _page(ask, records, editor, roles, wanted.text_ids)


# The list's columns, as ``_list_sql`` names them (the roles' row has NULL in each).
_LIST_COLUMNS = ("user_id", "name", "email", "role", "created_at", "last_active_at",
                 "sort_name", "total", "member_revision")


@lru_cache(maxsize=256)
def _with_roles_sql(list_sql: str) -> str:
    """The org's roles and entitlements (one row, ``roles.CATALOGUE_AND_ENTITLEMENTS``) and
    the page of members, as one statement: NULL in the other part's columns. The page keeps
    its own order inside its part (a parenthesised ORDER BY ... LIMIT); the roles' row is
    told apart by its ``now``, never NULL, where the members' rows have NULL."""
    nulls = ", ".join(f"NULL AS {name}" for name in _LIST_COLUMNS)
    padding = ", NULL" * role_rules.CATALOGUE_AND_ENTITLEMENTS_WIDTH
    return (f"SELECT {nulls}, {role_rules.CATALOGUE_AND_ENTITLEMENTS}"
            f" UNION ALL SELECT page.*{padding} FROM ({list_sql}) AS page")


def roles_and_members(session: Session, *, editor: Editor,
                      wanted: PageWanted = PageWanted(), alone: bool = False,
                      ) -> tuple[dict[str, RoleInfo], MemberPage]:
    """The members page's reads in one statement (one round trip fewer, issue 20): the org's
    roles (with its entitlements, kept for the transaction as ``catalogue_with_entitlements``
    does) and ``list_members``' page. A filter by a custom role needs the roles to know the
    role exists before the page is read: then the two statements, as before.

    ``alone``: the statement is a transaction of its own, packed into its context statement
    (``tenancy.rows_alone``: no BEGIN, no COMMIT, two round trips fewer), for a view whose
    principal check ran alone too (``principal_only``). Every table it reads is a
    control-plane table (tiers/catalogue.py), so it runs on the shared database for every
    tier, as the org home's statement does; every check of the gate runs under its context."""
    if wanted.role and wanted.role not in role_rules.BUILTIN_ROLE_KEYS:
        roles = role_rules.catalogue_with_entitlements(session)
        return roles, list_members(session, editor=editor, roles=roles, wanted=wanted)
    org = licenses.current_org(session)  # the key the transaction's entitlements are kept by
    ask = _ask(role_rules.BUILTIN_ROLE_KEYS, wanted, org)
    params = {**ask.params, "org": org, **licenses.entitlements_params()}
    sql = _with_roles_sql(ask.sql)
    if alone:
        records = tenancy.rows_alone(session, sql, params)
    else:
        records = first_statement.rows(session, sql, params)
    found = next((r for r in records if r.now is not None), None)
    if found is None:  # the org's row is not visible: what catalogue_with_entitlements does
        roles = role_rules.catalogue(session)
    else:
        records = [r for r in records if r is not found]
        roles = role_rules.catalogue_from_row(session, org, found)
    return roles, _page(ask, records, editor, roles, wanted.text_ids)


def get_member(session: Session, *, org_id: uuid.UUID, editor: Editor,
               roles: dict[str, RoleInfo], user_id: uuid.UUID) -> MemberRow | None:
    record = session.execute(
        _member_columns().where(Membership.org_id == org_id, Membership.user_id == user_id)
    ).one_or_none()
    if record is None:
        return None
    return _row(editor, roles, record, can_edit="roles.edit" in editor.permissions,
                can_remove="members.remove" in editor.permissions)


def _serialise_membership_changes(session: Session, org_id: uuid.UUID) -> None:
    """Every change of who is in the org, or in which role, queues here first (a lock held
    until the transaction ends), then locks member rows: one order, so two owners demoting
    each other wait for one another instead of deadlocking."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                    {"key": f"memberships:{org_id}"})


def _still_owner(session: Session, org_id: uuid.UUID, editor: Editor) -> None:
    """An owner's request decided who they are when it began; another owner may have
    demoted them meanwhile (the request waited for that change above)."""
    if editor.role != OWNER:
        return
    now = session.scalar(select(Membership.role).where(
        Membership.org_id == org_id, Membership.user_id == editor.user_id))
    if now != OWNER:
        raise MemberError(
            "Another owner changed your role at the same moment: you are no longer an owner."
            " Reload the page to see the current roles.", status=409)


def _lock_membership(session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> Membership:
    _serialise_membership_changes(session, org_id)
    membership = session.scalar(
        select(Membership)
        .where(Membership.org_id == org_id, Membership.user_id == user_id)
        .with_for_update()
    )
    if membership is None:
        raise MemberError("Not found.", status=404)  # another org's member reads as missing
    return membership


def _keep_an_owner(session: Session, org_id: uuid.UUID, leaving_user: uuid.UUID) -> None:
    owners = session.scalars(
        select(Membership.user_id)
        .where(Membership.org_id == org_id, Membership.role == OWNER)
        .order_by(Membership.user_id)
        .with_for_update()
    ).all()
    if not [u for u in owners if u != leaving_user]:
        raise MemberError(
            "An organization needs at least one owner. Make someone else an owner first.",
            status=409,
        )


def _email_of(session: Session, user_id: uuid.UUID) -> str:
    return session.scalar(select(User.email).where(User.id == user_id)) or str(user_id)


def change_role(
    session: Session,
    *,
    org_id: uuid.UUID,
    editor: Editor,
    roles: dict[str, RoleInfo],
    user_id: uuid.UUID,
    new_role: str,
    actor: Actor,
) -> None:
    target = roles.get(new_role)
    if target is None:
        raise MemberError("Choose one of the organization's roles.")
    membership = _lock_membership(session, org_id, user_id)
    _still_owner(session, org_id, editor)
    current = role_of(roles, membership.role)
    if not may_manage(editor, current):
        raise MemberError(
            f"You cannot change the role of someone who is {current.name}.", status=403
        )
    if not may_grant(editor, target):
        raise MemberError(f"You cannot grant the {target.name} role.", status=403)
    if membership.role == target.key:
        return
    if membership.role == OWNER:
        _keep_an_owner(session, org_id, user_id)
    before = membership.role
    membership.role = target.key
    session.flush()
    record_audit(
        session, org_id=org_id, actor=actor, action="member.role_change",
        target=f"user:{_email_of(session, user_id)}",
        before={"role": before}, after={"role": target.key},
    )


def remove_member(
    session: Session,
    *,
    org_id: uuid.UUID,
    editor: Editor,
    roles: dict[str, RoleInfo],
    user_id: uuid.UUID,
    actor: Actor,
) -> None:
    if user_id == editor.user_id:
        raise MemberError("To remove yourself, leave the organization instead.", status=400)
    membership = _lock_membership(session, org_id, user_id)
    _still_owner(session, org_id, editor)
    current = role_of(roles, membership.role)
    if not may_manage(editor, current):
        raise MemberError(f"You cannot remove someone who is {current.name}.", status=403)
    if membership.role == OWNER:
        _keep_an_owner(session, org_id, user_id)
    record_audit(
        session, org_id=org_id, actor=actor, action="member.remove",
        target=f"user:{_email_of(session, user_id)}",
        before={"role": membership.role}, after={"role": None},
    )
    session.delete(membership)
    session.flush()


def leave(session: Session, *, org_id: uuid.UUID, user_id: uuid.UUID, actor: Actor) -> None:
    membership = _lock_membership(session, org_id, user_id)
    if membership.role == OWNER:
        _keep_an_owner(session, org_id, user_id)
    # Audit first: once the membership is gone this user's context reads (and writes) nothing.
    record_audit(
        session, org_id=org_id, actor=actor, action="member.leave",
        target=f"user:{_email_of(session, user_id)}",
        before={"role": membership.role}, after={"role": None},
    )
    session.delete(membership)
    session.flush()
