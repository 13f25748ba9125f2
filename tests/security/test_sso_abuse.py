"""Abuse limits on the anonymous SSO endpoints: rate limits per address and per connection,
refused logins counted instead of written one audit row each, cross-site GETs that write
nothing, and OIDC discovery fetched once per cache period rather than once per start."""

from __future__ import annotations

import base64
import secrets
import zlib

from dashboard.sso import crypto, saml
from tests import factories
from tests.conftest import make_app
from tests.helpers import csrf_token
from tests.support.oidc_op import TestOP
from tests.support.saml_idp import to_post
from tests.support.sso import start

GARBAGE = base64.b64encode(b"<samlp:Response>not a response</samlp:Response>").decode()


def _login_failures(org_id) -> list:
    return list(factories.execute(
        "SELECT details, user_agent FROM audit_events WHERE org_id = :o"
        " AND action = 'sso.login_failed' ORDER BY at", o=org_id))


def _refused_counted(org_id) -> int:
    return factories.execute("SELECT coalesce(sum(refused), 0) FROM sso_refusals"
                             " WHERE org_id = :o", o=org_id).scalar()


def test_a_flood_of_anonymous_acs_posts_leaves_a_handful_of_audit_rows(client, setup):
    for _ in range(300):
        response = client.post(f"/sso/saml/{setup.conn.id}/acs", data={"SAMLResponse": GARBAGE},
                               headers={"User-Agent": "flood/" + "x" * 5000})
        assert response.status_code == 400
    rows = _login_failures(setup.org.id)
    assert 1 <= len(rows) <= 3  # one per minute (a run may straddle a minute boundary)
    assert _refused_counted(setup.org.id) == 300
    first = rows[0]
    assert first.details["untrusted_text"] is True and len(first.user_agent) <= 120
    assert len(first.details["reason"]) <= 200


def test_the_count_of_a_closed_minute_is_summarised_once(client, setup):
    factories.execute(
        "INSERT INTO sso_refusals (org_id, connection_id, minute, refused, sample_reason)"
        " VALUES (:o, :c, date_trunc('minute', now()) - interval '5 minutes', 41, 'sample')",
        o=setup.org.id, c=setup.conn.id)
    for _ in range(3):
        client.post(f"/sso/saml/{setup.conn.id}/acs", data={"SAMLResponse": GARBAGE})
    summaries = [r.details for r in _login_failures(setup.org.id) if r.details.get("summary")]
    assert len(summaries) == 1 and summaries[0]["refused"] == 41
    assert summaries[0]["sample_reason"] == "sample"


def test_after_the_per_address_limit_the_acs_answers_429(database_urls, tmp_path, setup):
    app = make_app(database_urls, tmp_path, SSO_RATE_LIMIT_PER_IP="50/minute")
    try:
        client = app.test_client()
        statuses = [
            client.post(f"/sso/saml/{setup.conn.id}/acs",
                        data={"SAMLResponse": GARBAGE}).status_code
            for _ in range(1000)
        ]
        assert statuses.count(400) == 50 and statuses.count(429) == 950
        assert len(_login_failures(setup.org.id)) <= 3
        assert _refused_counted(setup.org.id) == 50
        limited = client.post(f"/sso/saml/{setup.conn.id}/acs", data={"SAMLResponse": GARBAGE})
        assert limited.headers["Retry-After"]
        # Another address still gets through: the limit is per client.
        other = app.test_client()
        response = other.post(f"/sso/saml/{setup.conn.id}/acs", data={"SAMLResponse": GARBAGE},
                              environ_base={"REMOTE_ADDR": "198.51.100.7"})
        assert response.status_code == 400
    finally:
        app.extensions["tenantdesk.db"].dispose()


def test_many_addresses_share_the_per_connection_limit(database_urls, tmp_path, setup):
    app = make_app(database_urls, tmp_path, SSO_RATE_LIMIT_PER_CONNECTION="20/minute")
    try:
        client = app.test_client()
        statuses = [
            client.post(f"/sso/saml/{setup.conn.id}/acs", data={"SAMLResponse": GARBAGE},
                        environ_base={"REMOTE_ADDR": f"203.0.113.{n}"}).status_code
            for n in range(40)
        ]
        assert statuses.count(400) == 20 and statuses.count(429) == 20
        # /sso/start of the same connection is limited with it.
        start_page = client.post(f"/sso/start/{setup.conn.id}",
                                 data={"csrf_token": csrf_token(client, "/login")})
        assert start_page.status_code == 429
    finally:
        app.extensions["tenantdesk.db"].dispose()


def _redirect_binding(xml) -> str:
    raw = base64.b64decode(to_post(xml))
    return base64.b64encode(zlib.compress(raw)[2:-4]).decode()


def test_a_cross_site_get_to_the_acs_writes_nothing(client, app, setup):
    url = start(client, setup.conn.id)
    signed = setup.idp.answer(url, name_id=setup.email())
    stranger = app.test_client()  # an <img> on another site: no cookie of the victim's
    response = stranger.get(f"/sso/saml/{setup.conn.id}/acs",
                            query_string={"SAMLResponse": _redirect_binding(signed)})
    assert response.status_code == 400
    assert "not started in this browser" in response.get_data(as_text=True)
    assert _login_failures(setup.org.id) == [] and _refused_counted(setup.org.id) == 0
    assert factories.execute("SELECT count(*) FROM sso_seen_assertions WHERE org_id = :o",
                             o=setup.org.id).scalar() == 0
    garbage = stranger.get(f"/sso/saml/{setup.conn.id}/acs",
                           query_string={"SAMLResponse": "@@not-deflate@@"})
    assert garbage.status_code == 400 and _refused_counted(setup.org.id) == 0


def test_a_cross_site_get_to_the_pick_up_takes_nothing(client, app, setup):
    from tests.support.sso import post_to_acs

    url = start(client, setup.conn.id)
    parked = post_to_acs(client, setup.conn.id, setup.idp.answer(url, name_id=setup.email()),
                         follow=False)
    pick_up = parked.headers["Location"]
    assert app.test_client().get(pick_up).status_code == 400
    assert client.get(pick_up).status_code == 303  # still there for the right browser


def test_oidc_discovery_is_fetched_once_per_cache_period(database_urls, tmp_path):
    app = make_app(database_urls, tmp_path, OIDC_CACHE_SECONDS=600)
    try:
        with TestOP() as op:
            org, _ = factories.org_with_members(owner="owner")
            factories.put_on_plan(org, "enterprise")
            conn = factories.SsoConnectionFactory.build(org_id=org.id, kind="oidc", config={
                "issuer": op.issuer, "client_id": "cached", "scopes": "openid email"})
            conn.client_secret = crypto.seal(crypto.key_from_config(app.config),
                                             secrets.token_hex(8), str(conn.id))
            session = factories.SsoConnectionFactory._meta.sqlalchemy_session
            session.add(conn)
            session.commit()
            for _ in range(20):
                client = app.test_client()
                response = client.post(f"/sso/start/{conn.id}",
                                       data={"csrf_token": csrf_token(client, "/login")})
                assert response.status_code == 200
            assert op.hits.count("/.well-known/openid-configuration") == 1
    finally:
        app.extensions["tenantdesk.db"].dispose()


def test_sp_metadata_stays_valid_for_a_long_time(setup):
    sp = saml.sp_for("http://127.0.0.1:5000", setup.conn.id)
    metadata = saml.sp_metadata(sp)
    assert "validUntil" not in metadata or "cacheDuration" in metadata
