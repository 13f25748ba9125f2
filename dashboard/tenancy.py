"""THE one place that sets the row-level security context of a transaction.

Every transaction a Tenantdesk session opens starts with::

    set_config('app.user_id', ..., true), set_config('app.org_id', ..., true), ...

``true`` makes the settings transaction-local, so a pooled connection never carries a tenant
into the next transaction. Values travel as bound parameters, never as SQL text. With no
context, the database gate ``app_current_org()`` is NULL and every tenant table reads empty.

``GLOBAL_TABLES`` names the only tables allowed to live without forced RLS; a test fails if
any other table lacks it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from dashboard.tiers import routing

# Person-scoped: forced RLS on the current person (``user_id = app_current_user()``), one's
# own rows only. tests/security/test_schema_guard.py checks them from the catalogue.
PERSON_TABLES = frozenset(
    {
        "account_tokens",  # password-reset and email-change links (hashes)
        "mfa_totp",  # TOTP secrets (encrypted)
        "mfa_recovery_codes",  # recovery codes (hashes, not readable by the app role)
        "mfa_failures",  # wrong second-factor codes (throttling)
        "passkeys",  # WebAuthn credentials (public keys)
    }
)

# Everything that is not tenant data (exports and the tenant guards skip these).
GLOBAL_TABLES = PERSON_TABLES | frozenset(
    {
        "alembic_version",  # migration bookkeeping
        "users",  # a person exists across orgs
        "user_sessions",  # browser sessions belong to a user, not an org
        "login_attempts",  # throttling, before anyone is known
        "providers",  # partner accounts: they own orgs, they are not inside one
        "provider_orgs",  # a provider's external id -> org map (the provider's own data)
        "deletion_certificates",  # must outlive the purged org's rows
        # The plan catalogue is the vendor's price list, the same for every org; the app may
        # only read it. Which plan an org is on lives in organizations/licenses (tenant).
        "features",
        "plans",
        "plan_features",
        "plan_quotas",
        "signing_keys",  # one access-token issuer for every org (private keys encrypted)
        "saml_sp_keys",  # one SAML SP key pair for the installation (private keys sealed)
        "selftest_runs",  # isolation self-test results: counts only, shown on /trust
        "sso_login_requests",  # SSO logins in flight, written before anyone is known
        "sso_seen_assertions",  # SAML replay cache, checked before anyone is known
        # Isolation tiers (dashboard/tiers/): where each org lives is needed before its rows
        # can be read at all; per-plan limits are catalogue; move certificates outlive moves.
        "tenant_routes",
        "plan_limits",
        "tenant_moves",
        # Open sign-up before the person exists; the app role has no privilege on it (only
        # the app_signup_* definer functions touch it).
        "signup_requests",
    }
)

_CONTEXT_KEY = "tenant_context"
# The same statement reads the org's route (tier, limits, move state) and applies it
# transaction-locally: search_path, statement_timeout (dashboard/tiers/routing.py).
_SET_CONTEXT_SQL = text(
    "SELECT set_config('app.user_id', :user_id, true),"
    " set_config('app.org_id', :org_id, true),"
    " set_config('app.credential_id', :credential_id, true),"
    " set_config('app.provider_id', :provider_id, true),"
    + routing.CONTEXT_COLUMNS
    + routing.CONTEXT_FROM
)


@dataclass(frozen=True)
class TenantContext:
    """Who a transaction acts for. All None: nobody (zero tenant rows)."""

    user_id: uuid.UUID | None = None
    org_id: uuid.UUID | None = None
    credential_id: uuid.UUID | None = None  # an org API key, SCIM token or export credential
    provider_id: uuid.UUID | None = None  # a partner calling the provisioning API

    def as_params(self) -> dict[str, str]:
        return {
            "user_id": _text(self.user_id),
            "org_id": _text(self.org_id),
            "credential_id": _text(self.credential_id),
            "provider_id": _text(self.provider_id),
        }


NOBODY = TenantContext()


def _text(value: uuid.UUID | str | None) -> str:
    # Anything that is not a UUID becomes '' and the gate reads it as "no context".
    if value is None:
        return ""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return ""


def context_of(session: Session) -> TenantContext:
    return session.info.get(_CONTEXT_KEY, NOBODY)


def bind(session: Session, context: TenantContext) -> None:
    """Make ``context`` apply from the session's next transaction on.

    A transaction already open is committed first: a context never changes mid-transaction.
    """
    if session.in_transaction():
        session.commit()
    session.info[_CONTEXT_KEY] = context


@event.listens_for(Session, "after_begin")
def _apply_context(session: Session, transaction, connection) -> None:
    params = context_of(session).as_params()
    row = connection.execute(_SET_CONTEXT_SQL, params).one()
    routing.admit(session.info, row, params["org_id"])


@contextmanager
def scoped_session(factory, context: TenantContext) -> Iterator[Session]:
    """A session acting for ``context``; commits on success, rolls back on error."""
    session = factory()
    session.info[_CONTEXT_KEY] = context
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# ------------------------------------------------------------------------ per web request
# The request's session is bound to ``g.tenant_context`` (set by the sign-in loader). It is
# committed before the response leaves when the response is a success, rolled back otherwise,
# so a refused request changes nothing.


def request_session() -> Session:
    from flask import current_app, g

    if "db_session" not in g:
        session = current_app.extensions["tenantdesk.db"].sessionmaker()
        session.info[_CONTEXT_KEY] = g.get("tenant_context", NOBODY)
        session.info[routing.REQUEST_KEY] = True  # counts against the org's concurrency cap
        g.db_session = session
    return g.db_session


def bind_request(context: TenantContext) -> Session:
    """Switch the request's session to ``context`` (used at sign-in and org switch)."""
    from flask import g

    g.tenant_context = context
    session = request_session()
    bind(session, context)
    return session


def init_app(app) -> None:
    from flask import g

    @app.after_request
    def _finish(response):
        session = g.pop("db_session", None)
        if session is not None:
            try:
                if response.status_code < 400:
                    session.commit()
                else:
                    session.rollback()
            finally:
                routing.release(session.info)
                session.close()
        return response

    @app.teardown_request
    def _discard(exc):
        session = g.pop("db_session", None)
        if session is not None:
            routing.release(session.info)
            session.rollback()
            session.close()
