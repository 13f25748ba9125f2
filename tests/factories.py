"""factory_boy factories, one per aggregate, written as a superuser (setup only)."""

from __future__ import annotations

import itertools
import secrets
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import factory
from sqlalchemy import text

from dashboard.members.invitations import new_token
from dashboard.models import (
    CustomDomain,
    CustomRole,
    FeatureOverride,
    Invitation,
    Membership,
    Organization,
    OrgBranding,
    SsoConnection,
    SsoDomain,
    User,
)

_state: dict = {}
_seq = itertools.count(1)


def bind(session_factory, password_hash: str) -> None:
    _use(session_factory(), password_hash)


def _use(session, password_hash: str) -> None:
    _state["session"] = session
    _state["password_hash"] = password_hash
    for cls in (UserFactory, OrgFactory, MembershipFactory, FeatureOverrideFactory,
                SsoConnectionFactory, SsoDomainFactory, CustomRoleFactory, InvitationFactory,
                CustomDomainFactory):
        cls._meta.sqlalchemy_session = session


@contextmanager
def writing_to(session_factory):
    """Inside the block, factories write to another database (a test's own server)."""
    saved = dict(_state)
    _use(session_factory(), saved["password_hash"])
    try:
        yield
    finally:
        _state["session"].close()
        _use(saved["session"], saved["password_hash"])


def unique(prefix: str) -> str:
    return f"{prefix}{next(_seq)}x{id(_state) % 10000}"


class _Base(factory.alchemy.SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_persistence = "commit"


class UserFactory(_Base):
    class Meta:
        model = User

    email = factory.LazyFunction(lambda: f"{unique('user')}@example.com")
    name = factory.Faker("name")
    password_hash = factory.LazyFunction(lambda: _state["password_hash"])


class OrgFactory(_Base):
    class Meta:
        model = Organization

    slug = factory.LazyFunction(lambda: unique("org"))
    name = factory.LazyAttribute(lambda o: f"Org {o.slug.upper()}")


class MembershipFactory(_Base):
    class Meta:
        model = Membership

    org_id = factory.LazyFunction(lambda: OrgFactory().id)
    user_id = factory.LazyFunction(lambda: UserFactory().id)
    role = "member"


class SsoConnectionFactory(_Base):
    """A SAML connection by default; pass kind/config for OIDC (seal the secret yourself)."""

    class Meta:
        model = SsoConnection

    id = factory.LazyFunction(uuid.uuid4)
    org_id = factory.LazyFunction(lambda: OrgFactory().id)
    kind = "saml"
    config = factory.LazyFunction(dict)
    attribute_map = factory.LazyFunction(dict)
    default_role = "member"


class SsoDomainFactory(_Base):
    """A domain, verified unless ``verified_at=None``."""

    class Meta:
        model = SsoDomain

    id = factory.LazyFunction(uuid.uuid4)
    org_id = factory.LazyFunction(lambda: OrgFactory().id)
    domain = factory.LazyFunction(lambda: f"{unique('corp')}.example.com")
    token = factory.LazyFunction(lambda: secrets.token_urlsafe(24))
    verified_at = factory.LazyFunction(lambda: datetime.now(UTC))
class CustomDomainFactory(_Base):
    """An org's custom host, pending unless ``verified_at`` is given."""

    class Meta:
        model = CustomDomain

    id = factory.LazyFunction(uuid.uuid4)
    org_id = factory.LazyFunction(lambda: OrgFactory().id)
    domain = factory.LazyFunction(lambda: f"login.{unique('corp')}.example.com")
    token = factory.LazyFunction(lambda: secrets.token_urlsafe(24))
    verified_at = None


def logo_png(color=(31, 78, 156), size=(32, 32)) -> bytes:
    """A small PNG as the app stores logos (dashboard/hosts/logo.py re-encodes uploads)."""
    import io

    from PIL import Image

    from dashboard.hosts.logo import clean_logo

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return clean_logo(out.getvalue())[0]


def branding(org, *, logo: bool = True, logo_color=None, **fields) -> OrgBranding:
    """An org's branding row (written as the superuser), with a logo unless ``logo=False``
    (give each org its own ``logo_color`` where two logos must differ)."""
    import hashlib

    png = (logo_png(logo_color) if logo_color else logo_png()) if logo else None
    row = OrgBranding(org_id=org.id, logo=png,
                      logo_sha256=hashlib.sha256(png).hexdigest() if png else None, **fields)
    session = _state["session"]
    session.merge(row)
    session.commit()
    return session.get(OrgBranding, org.id)


class CustomRoleFactory(_Base):
    class Meta:
        model = CustomRole

    org_id = factory.LazyFunction(lambda: OrgFactory().id)
    key = factory.LazyFunction(lambda: unique("role"))
    name = factory.LazyAttribute(lambda r: r.key.title())
    permissions = factory.LazyFunction(lambda: ["org.view"])


class InvitationFactory(_Base):
    """An invitation row. Use ``invitation(...)`` to also get the clear token."""

    class Meta:
        model = Invitation

    org_id = factory.LazyFunction(lambda: OrgFactory().id)
    email = factory.LazyFunction(lambda: f"{unique('invitee')}@example.com")
    role = "member"
    token_hash = factory.LazyFunction(lambda: new_token()[1])
    expires_at = factory.LazyFunction(lambda: datetime.now(UTC) + timedelta(days=7))


def invitation(org, email=None, **fields):
    """A pending invitation into ``org`` and the token that opens it: ``(row, token)``."""
    token, digest = new_token()
    if email is not None:
        fields["email"] = email
    row = InvitationFactory(org_id=org.id, token_hash=digest, **fields)
    return row, token


def add_members(org, count: int, prefix: str = "bulk", role: str = "member") -> None:
    """``count`` new people in ``org`` at once (one SQL statement): for lists and benchmarks."""
    execute(
        """
        WITH new_users AS (
          INSERT INTO users (email, name, password_hash)
          SELECT :p || g || '-' || :o || '@example.com',
                 initcap(:p) || ' ' || lpad(g::text, 5, '0'), 'x'
            FROM generate_series(1, :n) g
          RETURNING id
        )
        INSERT INTO memberships (org_id, user_id, role)
        SELECT CAST(:o AS uuid), id, :r FROM new_users
        """,
        p=prefix, o=str(org.id), n=count, r=role,
    )


def org_with_members(**roles_by_label):
    """An org plus users in the given roles: ``org_with_members(owner='owner', bob='member')``."""
    org = OrgFactory()
    people = {}
    for label, role in roles_by_label.items():
        user = UserFactory()
        MembershipFactory(org_id=org.id, user_id=user.id, role=role)
        people[label] = user
    return org, people


def set_api_key_hmac(key: bytes) -> None:
    _state["api_key_hmac"] = key


def api_key(org, scopes=(), *, name="test key", expires_at=None, revoked=False, created_by=None):
    """An API key of ``org`` (hashed with the session app's server key): (plaintext, id)."""
    from dashboard.apikeys import tokens

    prefix, secret, plaintext = tokens.generate()
    credential_id = execute(
        "INSERT INTO org_credentials (org_id, kind, name, prefix, secret_hash, scopes,"
        " created_by, expires_at, revoked_at)"
        " VALUES (:org, 'api_key', :name, :prefix, :hash, :scopes, :by, :exp,"
        " CASE WHEN :revoked THEN now() END) RETURNING id",
        org=org.id, name=name, prefix=prefix,
        hash=tokens.hash_secret(_state["api_key_hmac"], prefix, secret),
        scopes=list(scopes), by=getattr(created_by, "id", None), exp=expires_at,
        revoked=revoked,
    ).scalar_one()
    return plaintext, credential_id


def execute(sql: str, **params):
    session = _state["session"]
    result = session.execute(text(sql), params)
    session.commit()
    return result


def session():
    """The superuser session factories write with (for services that want a Session)."""
    return _state["session"]


# ------------------------------------------------------------------------ plans and licenses


def put_on_plan(org, plan: str, **terms) -> None:
    """Put ``org`` on ``plan`` with a license row (seats, rate_limit_per_minute, valid_from,
    valid_until); the license's plan follows the org's through the cascading key."""
    execute("UPDATE organizations SET plan = :p WHERE id = :o", p=plan, o=org.id)
    columns = {"seats": None, "rate_limit_per_minute": None, "valid_until": None, **terms}
    execute(
        "INSERT INTO licenses (org_id, plan, seats, rate_limit_per_minute, valid_from,"
        " valid_until) VALUES (:o, :p, :seats, :rate_limit_per_minute,"
        " coalesce(CAST(:valid_from AS timestamptz), now() - interval '1 day'), :valid_until)"
        " ON CONFLICT (org_id) DO UPDATE SET seats = EXCLUDED.seats,"
        " rate_limit_per_minute = EXCLUDED.rate_limit_per_minute,"
        " valid_from = EXCLUDED.valid_from, valid_until = EXCLUDED.valid_until",
        o=org.id, p=plan, valid_from=terms.get("valid_from"),
        **{k: v for k, v in columns.items() if k != "valid_from"},
    )


class FeatureOverrideFactory(_Base):
    class Meta:
        model = FeatureOverride

    org_id = factory.LazyFunction(lambda: OrgFactory().id)
    feature = "sso"
    enabled = True
    reason = "test override"


def make_staff(user, staff: bool = True) -> None:
    execute("UPDATE users SET is_staff = :s WHERE id = :u", s=staff, u=user.id)


def usage_daily(org, metric: str, day, total: int) -> None:
    """A rollup row written as a superuser (bypasses RLS and the ingestion path)."""
    execute(
        "INSERT INTO usage_daily (org_id, metric, day, total) VALUES (:o, :m, :d, :t)"
        " ON CONFLICT (org_id, metric, day) DO UPDATE SET total = EXCLUDED.total",
        o=org.id, m=metric, d=day, t=total,
    )


def usage_event(org, metric: str, quantity: int, at, key: str | None = None) -> None:
    """A raw usage event written as a superuser (no rollup: pair with ``usage_daily``)."""
    execute(
        "INSERT INTO usage_events (org_id, metric, quantity, occurred_at, idempotency_key)"
        " VALUES (:o, :m, :q, :at, :k)",
        o=org.id, m=metric, q=quantity, at=at, k=key or unique("evt"),
    )


def plan_quota(plan: str, metric: str) -> int | None:
    """The seeded catalogue's quota for ``metric`` on ``plan`` (None: unlimited)."""
    return execute(
        "SELECT quota FROM plan_quotas WHERE plan = :p AND metric = :m", p=plan, m=metric
    ).scalar_one()


def scim_token(org, *, name="test SCIM token", expires_at=None, revoked=False, created_by=None,
               hmac_key=None):
    """A SCIM token of ``org`` (hashed like an API key, with the session app's server key
    unless ``hmac_key`` names another app's): (plaintext, credential id)."""
    from dashboard.apikeys import tokens as key_tokens
    from dashboard.scim import tokens

    prefix, secret, plaintext = tokens.generate()
    credential_id = execute(
        "INSERT INTO org_credentials (org_id, kind, name, prefix, secret_hash, created_by,"
        " expires_at, revoked_at)"
        " VALUES (:org, 'scim', :name, :prefix, :hash, :by, :exp,"
        " CASE WHEN :revoked THEN now() END) RETURNING id",
        org=org.id, name=name, prefix=prefix,
        hash=key_tokens.hash_secret(hmac_key or _state["api_key_hmac"], prefix, secret),
        by=getattr(created_by, "id", None), exp=expires_at, revoked=revoked,
    ).scalar_one()
    return plaintext, credential_id
