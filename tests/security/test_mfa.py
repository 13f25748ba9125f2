"""TOTP and recovery codes: enrolment, the second step at sign-in, and the attacks on them."""

from __future__ import annotations

import re
import time

import pyotp
import pytest

from tests import factories
from tests.helpers import csrf_token, login, post

SECRET = re.compile(r'data-testid="totp-secret">([A-Z2-7]+)<')
CODES = re.compile(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>")


def enrol(client) -> tuple[str, list[str]]:
    """Set up TOTP for the signed-in client: (secret, recovery codes)."""
    page = client.get("/account/mfa/totp").get_data(as_text=True)
    secret = SECRET.search(page).group(1)
    done = post(client, "/account/mfa/totp", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200, done.get_data(as_text=True)[:500]
    return secret, CODES.findall(done.get_data(as_text=True))


def code_at(secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


def second_step(client, code):
    token = csrf_token(client, "/login/verify")
    return client.post("/login/verify", data={"csrf_token": token, "code": code})


def second_step_status(client, code) -> int:
    token = csrf_token(client, "/forgot-password")
    response = client.post("/login/verify", data={"csrf_token": token, "code": code})
    if response.status_code == 302:
        assert "/login" in response.headers["Location"]  # back to the password, not signed in
    return response.status_code


def session_mfa(user):
    return factories.execute(
        "SELECT mfa_method FROM user_sessions WHERE user_id = :u AND revoked_at IS NULL"
        " ORDER BY created_at DESC LIMIT 1", u=user.id).scalar()


@pytest.fixture
def enrolled(app):
    """A member with TOTP set up (their enrolment session signed out again)."""
    org, people = factories.org_with_members(owner="owner")
    client = app.test_client()
    login(client, people["owner"])
    secret, codes = enrol(client)
    return org, people["owner"], secret, codes


def test_enrolment_stores_only_sealed_secrets_and_hashed_codes(app, client, mail_server):
    org, people = factories.org_with_members(owner="owner")
    user = people["owner"]
    login(client, user)
    page = client.get("/account/mfa/totp")
    assert page.status_code == 200 and "<svg" in page.get_data(as_text=True)
    secret = SECRET.search(page.get_data(as_text=True)).group(1)
    assert post(client, "/account/mfa/totp", {"code": "000000" if code_at(secret) != "000000"
                                             else "111111"}).status_code == 400
    done = post(client, "/account/mfa/totp", {"code": code_at(secret)})
    codes = CODES.findall(done.get_data(as_text=True))
    assert len(codes) == 10 and len(set(codes)) == 10
    stored = factories.execute("SELECT secret_enc FROM mfa_totp WHERE user_id = :u",
                               u=user.id).scalar()
    assert secret not in stored
    hashes = factories.execute("SELECT code_hash FROM mfa_recovery_codes WHERE user_id = :u",
                               u=user.id).scalars().all()
    assert len(hashes) == 10 and not any(c.encode() in bytes(h) for c in codes for h in hashes)
    assert session_mfa(user) == "totp"  # proven just now: counts for this session
    mail_server.last(to=user.email)  # "An authenticator app was added"
    assert factories.execute("SELECT count(*) FROM audit_events WHERE org_id = :o AND action"
                             " = 'account.mfa_added'", o=org.id).scalar() == 1


def test_sign_in_asks_for_the_code_and_remembers_the_factor(app, client, enrolled):
    org, user, secret, _ = enrolled
    first = login(client, user)
    assert first.status_code == 303 and "/login/verify" in first.headers["Location"]
    assert client.get(f"/o/{org.slug}/").status_code == 302  # not signed in yet
    wrong = second_step(client, "12345")
    assert wrong.status_code == 401
    done = second_step(client, code_at(secret, +1))
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/o/{org.slug}/")
    assert client.get(f"/o/{org.slug}/").status_code == 200
    assert session_mfa(user) == "totp"


def test_a_code_works_once(app, enrolled):
    _, user, secret, _ = enrolled
    code = code_at(secret, +1)  # enrolment spent the current step
    first, second = app.test_client(), app.test_client()
    login(first, user)
    assert second_step(first, code).status_code == 302
    login(second, user)
    assert second_step(second, code).status_code == 401  # replayed


def test_brute_force_of_codes_is_throttled(app, enrolled):
    _, user, secret, _ = enrolled
    attacker = app.test_client()
    login(attacker, user)
    limit = app.config["MFA_MAX_FAILURES"]
    right = code_at(secret)
    wrong = f"{(int(right) + 500000) % 1000000:06d}"
    statuses = [second_step(attacker, wrong).status_code for _ in range(limit)]
    assert statuses == [401] * limit
    assert second_step(attacker, right).status_code == 429  # even the right one, for now
    other_device = app.test_client()  # the count is per person, not per browser
    login(other_device, user)
    assert second_step(other_device, right).status_code == 429


def test_recovery_codes_are_single_use(app, enrolled, mail_server):
    org, user, _, codes = enrolled
    client = app.test_client()
    login(client, user)
    assert second_step(client, codes[0].upper().replace("-", " ")).status_code == 302
    assert factories.execute("SELECT mfa_method FROM user_sessions WHERE user_id = :u"
                             " AND revoked_at IS NULL ORDER BY created_at DESC LIMIT 1",
                             u=user.id).scalar() == "recovery"
    again = app.test_client()
    login(again, user)
    assert second_step(again, codes[0]).status_code == 401
    assert second_step(again, codes[1]).status_code == 302
    assert "recovery code was used" in mail_server.last(to=user.email)["Subject"]


def test_the_pending_step_expires_and_belongs_to_the_browser(app, enrolled):
    _, user, secret, _ = enrolled
    stranger = app.test_client()  # never passed the password
    assert stranger.get("/login/verify").status_code == 302  # sent to sign in
    token = csrf_token(stranger, "/forgot-password")
    answer = stranger.post("/login/verify", data={"csrf_token": token, "code": code_at(secret)})
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]
    assert stranger.get("/switcher").status_code == 302  # still signed out
    late = app.test_client()
    login(late, user)
    with late.session_transaction() as cookie:  # the password step was 6 minutes ago
        cookie["mfa_pending"] = {**cookie["mfa_pending"],
                                 "at": cookie["mfa_pending"]["at"] - 360}
    assert second_step_status(late, code_at(secret, 1)) == 302
    assert late.get("/switcher").status_code == 302


def make_stale(user, minutes=11):
    factories.execute("UPDATE user_sessions SET reauth_at = now() - make_interval(mins => :m)"
                      " WHERE user_id = :u", m=minutes, u=user.id)


def test_turning_mfa_off_needs_recent_authentication(app, mail_server):
    org, people = factories.org_with_members(owner="owner")
    user = people["owner"]
    client = app.test_client()
    login(client, user)
    secret, _ = enrol(client)
    token = csrf_token(client, "/account")  # the form, taken while the session was fresh
    make_stale(user)
    refused = client.post("/account/mfa/totp/disable", data={"csrf_token": token})
    assert refused.status_code == 403 and "Confirm it" in refused.get_data(as_text=True)
    assert factories.execute("SELECT count(*) FROM mfa_totp WHERE user_id = :u",
                             u=user.id).scalar() == 1
    bad = client.post("/account/confirm?next=/account",
                      data={"csrf_token": token, "password": "not my password"})
    assert bad.status_code == 401
    good = client.post("/account/confirm?next=/account",
                       data={"csrf_token": token, "code": code_at(secret, 1)})
    assert good.status_code == 303 and good.headers["Location"] == "/account"
    done = client.post("/account/mfa/totp/disable", data={"csrf_token": token})
    assert done.status_code == 303
    assert factories.execute("SELECT count(*) FROM mfa_totp WHERE user_id = :u",
                             u=user.id).scalar() == 0
    assert factories.execute("SELECT count(*) FROM mfa_recovery_codes WHERE user_id = :u",
                             u=user.id).scalar() == 0
    assert "authenticator app was removed" in mail_server.last(to=user.email)["Subject"]
    assert factories.execute("SELECT count(*) FROM audit_events WHERE org_id = :o AND action"
                             " = 'account.mfa_removed'", o=org.id).scalar() == 1


def test_step_up_with_the_password_and_its_throttle(app):
    _, people = factories.org_with_members(owner="owner")
    user = people["owner"]
    client = app.test_client()
    login(client, user)
    enrol(client)
    make_stale(user)
    token = csrf_token(client, "/account")
    statuses = [client.post("/account/confirm", data={"csrf_token": token,
                                                      "password": f"wrong guess {i}"}).status_code
                for i in range(app.config["MFA_MAX_FAILURES"] + 1)]
    assert statuses[-1] == 429 and set(statuses[:-1]) == {401}
    assert client.post("/account/mfa/totp/disable",
                       data={"csrf_token": token}).status_code == 403


def test_recovery_codes_can_be_remade_after_step_up(app):
    _, people = factories.org_with_members(owner="owner")
    client = app.test_client()
    login(client, people["owner"])
    _, old = enrol(client)
    fresh = post(client, "/account/mfa/recovery-codes")
    new = CODES.findall(fresh.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    signer = app.test_client()
    login(signer, people["owner"])
    assert second_step(signer, old[2]).status_code == 401  # the old set stopped working
    assert second_step(signer, new[2]).status_code == 302
