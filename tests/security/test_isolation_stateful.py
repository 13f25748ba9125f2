"""Stateful property test of isolation (hypothesis ``RuleBasedStateMachine``).

Three people, three orgs, one API key per org, and the app on a pool of at most two
connections (so every request, every error and every held transaction reuses the same one
or two PostgreSQL sessions). Hypothesis interleaves, at random: sign-ins and sign-outs,
org switches (switcher and links), page loads, role changes and removals made through the
app, suspensions, reactivations, new members and key revocations made behind the app's back
(another process), API calls with live and revoked keys, and errors (refused input, CSRF
failures, another org's ids, a request that fails with a 500 after reading tenant rows).

After every step the invariants check, against the database's state at that moment (read as
the superuser before and after the step):

- no response showed a row of an org (its data marker) the caller held no grant in, before
  or after the step; an org's name only to people who have been its members;
- a transaction held open on the pool's second connection for one person and org sees that
  org's rows exactly while the person still holds a grant there (the gate is read on every
  statement), and nothing else;
- a fresh transaction with no context on the pool sees zero tenant rows.

CI runs 10,000 steps (``EXAMPLES`` examples of up to ``STEPS_PER_EXAMPLE`` steps; .ci/run),
in-process with the test client; the figures are printed with ``-s``.
"""

from __future__ import annotations

import os
import re
import secrets
import time
import uuid

import pytest
from flask import g
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import create_engine, text
from sqlalchemy.orm import sessionmaker

from dashboard import db, tenancy
from dashboard.db import Database
from dashboard.permissions import Permission, requires
from tests import factories
from tests.conftest import TEST_PASSWORD, make_app
from tests.helpers import csrf_from

# CI (.ci/run) sets 230: 10,000 steps. A plain `make test` runs 20 (about 1,000 steps).
EXAMPLES = int(os.environ.get("TENANTDESK_STATEFUL_EXAMPLES", "20"))
STEPS_PER_EXAMPLE = 50  # hypothesis ends some examples early: 230 of them make 10,000 steps
PEOPLE = range(3)
ORGS = range(3)
ROLES = ["owner", "admin", "member", "guest"]
PAGES = ["members", "audit", "roles"]  # cheap pages that show the org's rows (no charts)
TENANT_TABLES = ("memberships", "roles", "audit_events", "org_credentials", "organizations")
MARKER = re.compile(r"\b(dm|nm)[0-9a-f]{10}\b")

def markers_in(text_: str) -> set[str]:
    return {m.group(0) for m in MARKER.finditer(text_)}


STATS = {"steps": 0, "responses": 0, "markers_seen": 0, "held_rows_seen": 0, "errors": 0}


@pytest.fixture(scope="module")
def small_pool_app(database_urls, tmp_path_factory):
    """The app on a pool of at most two connections (one, plus one overflow)."""
    app = make_app(database_urls, tmp_path_factory.mktemp("stateful"))
    original = app.extensions["tenantdesk.db"]
    engine = create_engine(database_urls.runtime, pool_size=1, max_overflow=1,
                           connect_args=db.connect_args(database_urls.runtime,
                                                        app.config["DATABASE_POOLER"],
                                                        app.config["DB_CONNECT_TIMEOUT"]))
    app.extensions["tenantdesk.db"] = Database(
        engine=engine, sessionmaker=sessionmaker(engine, expire_on_commit=False, autoflush=True),
        urls=original.urls)
    original.dispose()

    @requires(Permission.ORG_VIEW)
    def boom(**_kwargs):
        # Reads tenant rows under the request's context, then fails mid-request.
        tenancy.request_session().execute(text("SELECT count(*) FROM audit_events")).scalar()
        raise RuntimeError(f"injected failure in {g.membership.slug}")

    app.add_url_rule("/o/<slug>/__boom", "stateful_boom", boom)
    yield app
    engine.dispose()


class World:
    """Fresh people, orgs and keys for one example; markers make every org's rows visible."""

    def __init__(self) -> None:
        self.orgs = []
        for _ in ORGS:
            tag = secrets.token_hex(5)
            org = factories.OrgFactory(name=f"Org nm{tag}", slug=f"sf-{secrets.token_hex(5)}")
            factories.put_on_plan(org, "enterprise", rate_limit_per_minute=1_000_000)
            factories.execute(
                "INSERT INTO roles (org_id, key, name, permissions) VALUES (:o, :k, :n, :p)",
                o=org.id, k="auditor", n=f"Auditor dm{tag}", p=["org.view", "audit.view"])
            factories.execute(
                "INSERT INTO audit_events (org_id, actor, action, target)"
                " VALUES (:o, 'seed', 'seed.data', :t)", o=org.id, t=f"row dm{tag}")
            org.data_marker, org.name_marker = f"dm{tag}", f"nm{tag}"
            self.orgs.append(org)
        self.people = [factories.UserFactory() for _ in PEOPLE]
        for i, person in enumerate(self.people):  # everyone owns one org, is a member of another
            factories.MembershipFactory(org_id=self.orgs[i].id, user_id=person.id, role="owner")
            factories.MembershipFactory(org_id=self.orgs[(i + 1) % 3].id, user_id=person.id,
                                        role="member")
        self.keys = [factories.api_key(org, ["audit:read", "members:read"]) for org in self.orgs]
        self.by_marker = {}
        for org in self.orgs:
            self.by_marker[org.data_marker] = ("data", org.id)
            self.by_marker[org.name_marker] = ("name", org.id)

    def grants(self) -> dict:
        """Who may see what right now: {("user", id) | ("key", id): (data orgs, name orgs)}."""
        rows = factories.execute(
            "SELECT 'user', m.user_id, m.org_id, o.status = 'active'"
            "  FROM memberships m JOIN organizations o ON o.id = m.org_id"
            " WHERE m.org_id = ANY(:orgs)"
            " UNION ALL SELECT 'key', c.id, c.org_id, o.status = 'active' AND c.revoked_at IS NULL"
            "  FROM org_credentials c JOIN organizations o ON o.id = c.org_id"
            " WHERE c.org_id = ANY(:orgs)",
            orgs=[o.id for o in self.orgs]).all()
        found: dict = {}
        for kind, who, org_id, active in rows:
            data, names = found.setdefault((kind, who), (set(), set()))
            names.add(org_id)
            if active:
                data.add(org_id)
        return found


class Isolation(RuleBasedStateMachine):
    app = None  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.world = World()
        self.clients = {i: self.app.test_client() for i in PEOPLE}
        self.csrf: dict[int, str | None] = {i: None for i in PEOPLE}
        self.held = None  # (person, org, session) kept open across steps
        self.now = self.world.grants()  # the grants after the last step
        self.known: dict = {}  # orgs each caller has been a member of during this example

    def _changed(self) -> tuple[dict, dict]:
        """(grants before this step, grants now): one superuser query per step."""
        before, self.now = self.now, self.world.grants()
        return before, self.now

    @initialize()
    def everyone_signs_in(self):
        for person in PEOPLE:
            self.sign_in(person)

    # ----------------------------------------------------------------------------- helpers
    def _allowed(self, who, grants) -> tuple[set, set]:
        return grants.get(who, (set(), set()))

    def _judge(self, who, before, after, body: str, what: str) -> None:
        STATS["responses"] += 1
        data_b, names_b = self._allowed(who, before)
        data_a, names_a = self._allowed(who, after)
        data = data_b | data_a
        # An org's name, once known as a member, may come back later (a flash message:
        # "You left <org>"); rows never do.
        names = self.known.setdefault(who, set())
        names |= names_b | names_a
        for marker in markers_in(body):
            kind, org_id = self.world.by_marker.get(marker, (None, None))
            if kind is None:  # another example's org: nobody of this example was ever in it
                raise AssertionError(f"{what}: {who[0]} saw {marker} of an org of another run")
            STATS["markers_seen"] += 1
            allowed = data if kind == "data" else names | data
            at = body.find(marker)
            assert org_id in allowed, (
                f"{what}: {who[0]} saw {kind} of org {org_id} without a grant "
                f"({body[max(0, at - 300):at + 60]!r}) "
                f"(data grants {sorted(map(str, data))}, member of {sorted(map(str, names))})")

    def _request(self, person: int, method: str, path: str, *, form=None, headers=None,
                 follow=False):
        client = self.clients[person]
        who = ("user", self.world.people[person].id)
        kwargs = {"headers": headers or {}, "follow_redirects": follow}
        if form is not None:
            kwargs["data"] = form
        response = client.open(path, method=method, **kwargs)
        body = response.get_data(as_text=True)
        before, after = self._changed()
        assert response.status_code < 500 or "__boom" in path, (method, path, response.status)
        self._judge(who, before, after, body + response.headers.get("Location", ""),
                    f"{method} {path}")
        token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', body)
        if token:
            self.csrf[person] = token.group(1)
        return response

    def _org(self, i):
        return self.world.orgs[i]

    # ------------------------------------------------------------------------------- rules
    @rule(person=st.sampled_from(PEOPLE))
    def sign_in(self, person):
        client = self.clients[person]
        page = client.get("/login").get_data(as_text=True)
        self._request(person, "POST", "/login", form={
            "csrf_token": csrf_from(page), "email": self.world.people[person].email,
            "password": TEST_PASSWORD})
        self._request(person, "GET", "/switcher")  # the new session's CSRF token

    @rule(person=st.sampled_from(PEOPLE))
    def sign_out(self, person):
        if self.csrf[person]:
            self._request(person, "POST", "/logout", form={"csrf_token": self.csrf[person]})

    @rule(person=st.sampled_from(PEOPLE), org=st.sampled_from(ORGS),
          page=st.sampled_from(PAGES))
    def open_page(self, person, org, page):
        # Another org's URL goes through the switch (membership checked) or answers 404.
        self._request(person, "GET", f"/o/{self._org(org).slug}/{page}", follow=True)

    @rule(person=st.sampled_from(PEOPLE), org=st.sampled_from(ORGS))
    def switch(self, person, org):
        self._request(person, "POST", "/switch", follow=True, form={
            "csrf_token": self.csrf[person] or "", "slug": self._org(org).slug,
            "next": "/o/x/audit"})

    @rule(person=st.sampled_from(PEOPLE), org=st.sampled_from(ORGS))
    def switcher(self, person, org):
        self._request(person, "GET", "/switcher")

    @rule(actor=st.sampled_from(PEOPLE), other=st.sampled_from(PEOPLE),
          org=st.sampled_from(ORGS), role=st.sampled_from([*ROLES, "auditor"]))
    def change_role(self, actor, other, org, role):
        self._request(actor, "POST",
                      f"/o/{self._org(org).slug}/members/{self.world.people[other].id}/role",
                      form={"csrf_token": self.csrf[actor] or "", "role": role})

    @rule(actor=st.sampled_from(PEOPLE), other=st.sampled_from(PEOPLE),
          org=st.sampled_from(ORGS))
    def remove(self, actor, other, org):
        path = f"/o/{self._org(org).slug}/members/{self.world.people[other].id}/remove"
        if actor == other:
            path = f"/o/{self._org(org).slug}/leave"
        self._request(actor, "POST", path, form={"csrf_token": self.csrf[actor] or ""})

    @rule(org=st.sampled_from(ORGS), status=st.sampled_from(["active", "suspended"]))
    def set_status_elsewhere(self, org, status):
        factories.execute("UPDATE organizations SET status = :s WHERE id = :o",
                          s=status, o=self._org(org).id)
        self._changed()

    @rule(person=st.sampled_from(PEOPLE), org=st.sampled_from(ORGS),
          role=st.sampled_from(ROLES))
    def add_member_elsewhere(self, person, org, role):
        factories.execute(
            "INSERT INTO memberships (org_id, user_id, role) VALUES (:o, :u, :r)"
            " ON CONFLICT DO NOTHING",
            o=self._org(org).id, u=self.world.people[person].id, r=role)
        self._changed()

    @rule(org=st.sampled_from(ORGS))
    def revoke_key_elsewhere(self, org):
        factories.execute("UPDATE org_credentials SET revoked_at = now() WHERE id = :k",
                          k=self.world.keys[org][1])
        self._changed()

    @rule(org=st.sampled_from(ORGS), path=st.sampled_from(
        ["/api/v1/audit/events", "/api/v1/members", "/api/v1/org"]))
    def api_call(self, org, path):
        plaintext, key_id = self.world.keys[org]
        response = self.app.test_client().get(path, headers={
            "Authorization": f"Bearer {plaintext}"})
        before, after = self._changed()
        assert response.status_code < 500
        self._judge(("key", key_id), before, after, response.get_data(as_text=True),
                    f"GET {path} with org {org}'s key")

    @rule(person=st.sampled_from(PEOPLE), org=st.sampled_from(ORGS), kind=st.sampled_from(
        ["bad input", "no csrf", "foreign id", "failure"]))
    def error(self, person, org, kind):
        STATS["errors"] += 1
        slug = self._org(org).slug
        if kind == "bad input":
            self._request(person, "GET", f"/o/{slug}/members?q=%00&page=99999999999999999999")
        elif kind == "no csrf":
            self._request(person, "POST", f"/o/{slug}/members/{uuid.uuid4()}/role",
                          form={"role": "owner"})
        elif kind == "foreign id":
            other = self.world.people[(person + 2) % 3]
            self._request(person, "GET", f"/o/{slug}/members/{other.id}/remove")
        else:
            self._request(person, "GET", f"/o/{slug}/__boom", follow=True)

    @rule(person=st.sampled_from(PEOPLE), org=st.sampled_from(ORGS))
    def hold_transaction(self, person, org):
        """Keep a transaction open for (person, org) on the pool's second connection."""
        self.release_transaction()
        factory = self.app.extensions["tenantdesk.db"].sessionmaker
        session = factory()
        session.info["tenant_context"] = tenancy.TenantContext(
            user_id=self.world.people[person].id, org_id=self._org(org).id)
        session.execute(text("SELECT 1"))
        self.held = (person, org, session)

    @rule()
    def release_transaction(self):
        if self.held is not None:
            self.held[2].rollback()
            self.held[2].close()
            self.held = None

    # -------------------------------------------------------------------------- invariants
    @invariant()
    def held_transaction_sees_only_its_granted_org(self):
        if self.held is None:
            return
        person, org, session = self.held
        seen = set(session.scalars(text(
            "SELECT target FROM audit_events UNION ALL SELECT name FROM roles")))
        markers = {m for value in seen for m in markers_in(value or "")}
        data, _ = self.now.get(("user", self.world.people[person].id), (set(), set()))
        target = self._org(org)
        expected = {target.data_marker} if target.id in data else set()
        assert {m for m in markers if m in self.world.by_marker} == expected, (
            f"a transaction held for person {person} in org {org} saw {markers}, "
            f"expected {expected}")
        STATS["held_rows_seen"] += bool(expected)

    @invariant()
    def a_context_free_transaction_sees_nothing(self):
        STATS["steps"] += 1
        factory = self.app.extensions["tenantdesk.db"].sessionmaker
        with tenancy.scoped_session(factory, tenancy.NOBODY) as session:
            counts = session.execute(text(" UNION ALL ".join(
                f"SELECT count(*) FROM {t}" for t in TENANT_TABLES))).scalars().all()
            assert counts == [0] * len(TENANT_TABLES), counts

    def teardown(self):
        self.release_transaction()


def test_no_step_ever_sees_another_orgs_rows(small_pool_app):
    Isolation.app = small_pool_app
    started, cpu = time.monotonic(), time.process_time()
    run_state_machine_as_test(Isolation, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS_PER_EXAMPLE, deadline=None,
        derandomize=True, database=None, suppress_health_check=list(HealthCheck)))
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
    print(f"\nstateful isolation: {STATS['steps']} steps, {STATS['responses']} responses checked, "
          f"{STATS['markers_seen']} markers judged, {STATS['held_rows_seen']} held-transaction "
          f"reads with rows, {STATS['errors']} injected errors, {elapsed:.1f} s"
          f" ({cpu:.1f} s CPU in this process)")
    engine = small_pool_app.extensions["tenantdesk.db"].engine
    assert engine.pool.size() == 1 and engine.pool.checkedout() == 0
    if EXAMPLES == 230:
        assert STATS["steps"] >= 10_000, STATS
    # Not vacuous: the people really saw their own orgs' rows along the way.
    assert STATS["markers_seen"] > EXAMPLES and STATS["held_rows_seen"] > 0
