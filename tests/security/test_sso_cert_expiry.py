"""Owners are mailed (over real SMTP) 30 and 7 days before their IdP's SAML certificate
expires, each warning once; other orgs' owners hear nothing; the runtime role cannot run the
cross-org look-up."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from dashboard.sso import expiry
from tests.support.saml_idp import TestIdP, make_keypair
from tests.support.sso import saml_org


def _idp(valid_days: int) -> TestIdP:
    idp = TestIdP()
    idp.key_pem, idp.cert_pem = make_keypair(valid_days=valid_days)
    return idp


@pytest.fixture
def owner_engine(database_urls):
    engine = create_engine(database_urls.owner)
    yield engine
    engine.dispose()


def _run(app, owner_engine, now=None) -> int:
    with owner_engine.begin() as owner:
        return expiry.warn_expiring(owner, app.extensions["tenantdesk.mail"], "http://td.test",
                                    now=now)


def test_owners_hear_30_then_7_days_ahead_once_each(app, owner_engine, mail_server):
    soon = saml_org(_idp(valid_days=20))
    later = saml_org(_idp(valid_days=400))
    owner = soon.people["owner"].email
    _run(app, owner_engine)
    first = mail_server.to(owner)
    assert len(first) == 1 and "certificate expires" in first[0]["Subject"]
    assert "paste its updated metadata" in mail_server.text(first[0])
    assert mail_server.to(later.people["owner"].email) == []
    assert mail_server.to(soon.people["admin"].email) == []  # owners only
    _run(app, owner_engine)
    assert len(mail_server.to(owner)) == 1  # the 30-day warning went out once
    _run(app, owner_engine, now=time.time() + 15 * 86400)  # 5 days left: the 7-day warning
    assert len(mail_server.to(owner)) == 2
    _run(app, owner_engine, now=time.time() + 16 * 86400)
    assert len(mail_server.to(owner)) == 2


def test_the_runtime_role_cannot_list_every_orgs_certificates(runtime_sessions):
    with runtime_sessions() as session, pytest.raises(ProgrammingError,
                                                      match="permission denied"):
        session.execute(text("SELECT * FROM app_sso_saml_certificates()"))
