"""/dev/mail exists only in development/demo mode, and shows the local outbox there."""

from __future__ import annotations

import pytest

from dashboard.mail import Mail
from tests.conftest import make_app


def test_no_dev_mail_route_in_a_default_config(app, client):
    assert not app.config["DEV_MAIL_VIEWER"]
    assert "devmail.index" not in app.view_functions
    assert client.get("/dev/mail/").status_code == 404


@pytest.fixture
def dev_app(database_urls, tmp_path):
    app = make_app(database_urls, tmp_path, DEV_MAIL_VIEWER=True, SMTP_URL=None)
    yield app
    app.extensions["tenantdesk.db"].dispose()


def test_dev_mail_lists_and_shows_outbox_messages(dev_app):
    dev_app.extensions["tenantdesk.mail"].send(
        [Mail("ada@example.com", "Join Acme", "Accept: http://127.0.0.1:5000/invitations/abc")]
    )
    client = dev_app.test_client()
    listing = client.get("/dev/mail/").get_data(as_text=True)
    assert "ada@example.com" in listing and "Join Acme" in listing
    name = dev_app.extensions["tenantdesk.mail"].outbox_names()[0]
    message = client.get(f"/dev/mail/{name}").get_data(as_text=True)
    assert 'href="http://127.0.0.1:5000/invitations/abc"' in message
    assert client.get("/dev/mail/..%2Fsecret_key").status_code == 404
    assert dev_app.view_functions["devmail.index"].access_rule == "public"
