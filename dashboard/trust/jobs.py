"""The trust jobs as the CLI and the worker run them: the isolation self-test and the signed
audit checkpoints. Both need the owner role's URL (the self-test makes its fixtures with
it; checkpoints read every org's chain head); a process without it skips them."""

from __future__ import annotations

import logging
import time

from sqlalchemy import create_engine, text

from dashboard import tenancy
from dashboard.trust import selftest

log = logging.getLogger(__name__)


def _owner_engine(app):
    owner_url = getattr(app.extensions["tenantdesk.db"].urls, "owner", None)
    return create_engine(owner_url) if owner_url else None


def run_selftest(app) -> selftest.Result | None:
    from dashboard.apikeys import tokens

    database = app.extensions["tenantdesk.db"]
    owner = _owner_engine(app)
    if owner is None:
        log.info("no owner database URL in this process: isolation self-test skipped")
        return None
    try:
        hmac_key = tokens.server_key(app.config.get("API_KEY_HMAC_KEY"),
                                     app.config["SECRET_KEY"])
        fixtures = selftest.ensure_fixtures(database.sessionmaker, owner, hmac_key)
    finally:
        owner.dispose()
    result = selftest.run(database.engine, fixtures)
    with tenancy.scoped_session(database.sessionmaker, tenancy.NOBODY) as session:
        selftest.record(session, result)
    if not result.ok:
        log.error("isolation self-test found %s leaking rows: %s", result.leaks,
                  "; ".join(result.findings[:10]))
    return result


def sign_checkpoints(app) -> int:
    from dashboard.audit import chain
    from dashboard.auth.access_tokens import keyring_for
    from dashboard.auth.signing_keys import KeyUnavailable

    try:
        key = keyring_for(app).current()
    except KeyUnavailable:
        log.warning("audit checkpoints not signed: this process cannot open the token"
                    " signing key (TOKEN_KEY_SECRET)")
        return 0
    owner = _owner_engine(app)
    if owner is None:
        return 0
    try:
        with owner.begin() as connection:
            return chain.sign_checkpoints(connection, key)
    finally:
        owner.dispose()


def run_due(app, echo=print, every_seconds: float = 3600, now: float | None = None) -> None:
    """From the worker's periodic jobs: at most once per ``every_seconds`` each."""
    database = app.extensions["tenantdesk.db"]
    with tenancy.scoped_session(database.sessionmaker, tenancy.NOBODY) as session:
        last = session.scalar(text("SELECT extract(epoch FROM max(started_at))"
                                   " FROM selftest_runs"))
    if last is None or (now or time.time()) - float(last) >= every_seconds:
        result = run_selftest(app)
        if result is not None:
            echo(f"isolation self-test: {result.attempts} attempts, {result.leaks} leaks.")
        echo(f"{sign_checkpoints(app)} audit checkpoint(s) signed.")
