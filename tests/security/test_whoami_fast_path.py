"""whoami's principal-only fast path (dashboard/auth/principal.py, ``principal_only``).

The session check of ``/o/<slug>/whoami.json`` is one self-committing statement that sets
the RLS context with ``set_config(..., true)`` in PostgreSQL's implicit transaction (no
BEGIN, no COMMIT). These tests attack what that could weaken: a cookie for org A on B's
URL, a member removed between two requests (with A on every tier), and, behind PgBouncer in
transaction pooling mode with ONE server connection, whether the context (user, org, a
tenant schema's search_path) outlives the statement on the server connection the next
client gets.
"""

from __future__ import annotations

import dataclasses

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests import factories, tiers
from tests.conftest import make_app
from tests.helpers import login, post


@pytest.fixture(scope="module")
def two_orgs():
    """``me``: owner of A only; ``both``: member of A and B; ``bea``: owner of B only."""
    org_a, people = factories.org_with_members(me="owner", both="member")
    org_b, people_b = factories.org_with_members(bea="owner")
    factories.MembershipFactory(org_id=org_b.id, user_id=people["both"].id, role="admin")
    return org_a, org_b, {**people, **people_b}


@pytest.fixture(scope="module", params=["shared", "schema", "dedicated"])
def a_on_tier(request, database_urls, two_orgs):
    with tiers.on_tier(database_urls, two_orgs[0], request.param) as tier:
        yield tier


def whoami(client, org):
    return client.get(f"/o/{org.slug}/whoami.json")


def refused(answer) -> bool:
    return answer.status_code in (302, 303, 401, 403, 404) and answer.get_json(silent=True) is None


def test_a_cookie_for_a_is_refused_on_bs_whoami(client, two_orgs, a_on_tier):
    """Guard: the session row must match the token's (user, org) exactly, and the
    membership is read for the URL's org under the gate."""
    org_a, org_b, people = two_orgs
    login(client, people["me"])
    assert whoami(client, org_a).get_json()["org"]["id"] == str(org_a.id)
    answer = whoami(client, org_b)
    assert refused(answer), a_on_tier
    assert str(org_b.id) not in answer.get_data(as_text=True)


def test_a_member_of_both_never_gets_bs_answer_on_as_session(client, two_orgs, a_on_tier):
    """Even a member of B: a token for A on B's URL goes through the switch, never straight
    to an answer naming B for a session that was opened for A."""
    org_a, org_b, people = two_orgs
    login(client, people["both"])
    post(client, "/switch", {"slug": org_a.slug})
    assert whoami(client, org_a).get_json()["org"]["id"] == str(org_a.id)
    with client.session_transaction() as cookie:
        session_for_a = cookie["_user_id"]
    answer = whoami(client, org_b)
    assert answer.get_json(silent=True) is None  # no answer on A's session
    with client.session_transaction() as cookie:
        now_for = cookie.get("oid"), cookie.get("_user_id")
    if answer.status_code == 303:  # through the switch: a new session for B, A's revoked
        assert now_for[0] == str(org_b.id) and now_for[1] != session_for_a
        revoked = factories.execute(
            "SELECT revoked_at IS NOT NULL FROM user_sessions WHERE id = :s", s=session_for_a
        ).scalar_one()
        assert revoked
    else:
        assert refused(answer) and now_for == (str(org_a.id), session_for_a)


def test_a_removed_member_is_refused_on_the_next_request(client, two_orgs, a_on_tier):
    """Guard: the membership join of the session check (and the gate), read per request."""
    org_a, _, _ = two_orgs
    temp = factories.UserFactory()
    factories.MembershipFactory(org_id=org_a.id, user_id=temp.id, role="admin")
    login(client, temp)
    assert whoami(client, org_a).status_code == 200
    factories.execute(
        "DELETE FROM memberships WHERE org_id = :o AND user_id = :u", o=org_a.id, u=temp.id
    )
    answer = whoami(client, org_a)
    assert refused(answer), a_on_tier  # (the 404 page shows the person their own email)


# --------------------------------------------------------- PgBouncer, one server connection


@pytest.fixture(scope="module")
def one_connection_bouncer(database_urls):
    from tests import pgbouncer as bouncers

    if not bouncers.available():
        pytest.skip(bouncers.INSTALL_HINT)
    bouncer = bouncers.PgBouncer(database_urls.admin, pool_size=1).start()
    yield bouncer
    bouncer.stop()


@pytest.fixture(scope="module")
def bounced_app(database_urls, one_connection_bouncer, tmp_path_factory):
    urls = dataclasses.replace(
        database_urls, runtime=one_connection_bouncer.via(database_urls.runtime)
    )
    app = make_app(
        urls, tmp_path_factory.mktemp("bounced"), DATABASE_POOLER="pgbouncer", DB_POOL_SIZE=2
    )
    yield app, urls.runtime
    app.extensions["tenantdesk.db"].dispose()


@pytest.fixture
def a_on_schema(database_urls):
    """Orgs of their own (the tier tests above move theirs), A on a tenant schema: its
    transactions also set search_path, which must not stay on the server connection."""
    org_a, people = factories.org_with_members(me="owner")
    org_b, people_b = factories.org_with_members(bea="owner")
    tiers.move(database_urls, org_a, "schema")
    return org_a, org_b, {**people, **people_b}


_LEFT_BEHIND = (
    "SELECT coalesce(current_setting('app.user_id', true), ''),"
    " coalesce(current_setting('app.org_id', true), ''),"
    " current_setting('search_path'), app_current_org(),"
    " (SELECT count(*) FROM memberships), (SELECT count(*) FROM user_sessions)"
)


def left_behind(runtime_url: str):
    """What the next client of the (only) server connection finds: no user, no org, the
    default search_path, no gate, no rows."""
    url = make_url(runtime_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
        return conn.execute(_LEFT_BEHIND).fetchone()


def test_whoami_leaves_no_context_on_the_pgbouncer_server_connection(bounced_app, a_on_schema):
    app, runtime_url = bounced_app
    org_a, org_b, people = a_on_schema
    clean = left_behind(runtime_url)
    assert clean[:2] == ("", "") and clean[3:] == (None, 0, 0)
    alice, bea = app.test_client(), app.test_client()
    login(alice, people["me"])
    login(bea, people["bea"])
    for _ in range(5):
        assert whoami(alice, org_a).get_json()["org"]["id"] == str(org_a.id)
        assert left_behind(runtime_url) == clean
        assert whoami(bea, org_b).get_json()["user"]["id"] == str(people["bea"].id)
        assert left_behind(runtime_url) == clean
        # Each on the other's org, right after the other's statement on the same server
        # connection: refused, never answered from the context just used there.
        assert whoami(alice, org_a).status_code == 200
        assert refused(whoami(bea, org_a))
        assert whoami(bea, org_b).status_code == 200
        assert refused(whoami(alice, org_b))
        assert left_behind(runtime_url) == clean
