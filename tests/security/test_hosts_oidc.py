"""OIDC started on an org's own host: the OP redirects to the one callback URL under
BASE_URL, which sends the browser back to the org host (its session cookie lives there);
nothing is taken on the way, and a browser that did not start it is still refused."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from tests.security.test_sso_oidc import at_provider, op, setup  # noqa: F401 (fixtures)
from tests.support.hosts import OnHost, host_of, org_hosts
from tests.support.sso import idp_redirect

INSTALLATION = "127.0.0.1:5000"  # the test app's BASE_URL host


def _start_on(host: OnHost, connection_id) -> str:
    return idp_redirect(host.post(f"/sso/start/{connection_id}"))


def _get(on: OnHost, location: str):
    parts = urlsplit(location)
    return on.get(parts.path, query_string=dict(parse_qsl(parts.query)))


def test_oidc_started_on_the_org_host_signs_in_on_that_host(app, client, setup):  # noqa: F811
    with org_hosts(app):
        host = OnHost(client, host_of(setup.org))
        back = at_provider(_start_on(host, setup.conn.id))
        assert urlsplit(back).netloc == INSTALLATION  # the one registered redirect URI
        bounced = _get(OnHost(client, INSTALLATION), back)
        assert bounced.status_code == 303
        there = urlsplit(bounced.headers["Location"])
        assert there.netloc == host_of(setup.org) and there.path == urlsplit(back).path
        done = _get(host, bounced.headers["Location"])
        assert done.status_code == 303, done.get_data(as_text=True)[:800]
        assert host.get(f"/o/{setup.org.slug}/").status_code == 200
        assert not OnHost(client, INSTALLATION).signed_in()


def test_a_bounced_callback_in_another_browser_is_still_refused(app, client, setup):  # noqa: F811
    with org_hosts(app):
        back = at_provider(_start_on(OnHost(client, host_of(setup.org)), setup.conn.id))
        victim = app.test_client()
        bounced = _get(OnHost(victim, INSTALLATION), back)
        assert bounced.status_code == 303  # to the org host, where this browser has no login
        refused = _get(OnHost(victim, host_of(setup.org)), bounced.headers["Location"])
        assert refused.status_code == 400
        assert "not started in this browser" in refused.get_data(as_text=True)
        assert not OnHost(victim, host_of(setup.org)).signed_in()
