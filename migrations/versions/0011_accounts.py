"""Accounts: sign-up, password reset, email change, MFA (TOTP, recovery codes, passkeys),
and what a session remembers about how it was authenticated.

Revision ID: 0011_accounts
Revises: 0006_sso

Person-scoped tables (forced RLS on the current person, ``app.user_id``): account_tokens,
mfa_totp, mfa_recovery_codes, passkeys. Tokens and recovery codes are stored only as hashes;
TOTP secrets only encrypted. ``signup_requests`` is written before anyone exists, so the app
role has no privilege on it at all: only the definer functions below touch it.

The look-ups that happen before anyone is signed in (reset token -> person, sign-up token,
passkey credential id -> person) go through narrow SECURITY DEFINER functions, as do the
writes to one's own ``users`` row (password, name, email).
"""

from alembic import op

from dashboard.rls_sql import definer_function

revision = "0011_accounts"
down_revision = "0006_sso"
branch_labels = None
depends_on = None

# What the runtime role may do on each person-scoped table (its own rows only). No hash is
# readable: account links and recovery codes are checked by the definer functions below.
PERSON_TABLES = {
    "account_tokens": "SELECT (id, user_id, purpose, new_email, ip, created_at, expires_at,"
                      " used_at), INSERT",
    "mfa_totp": "SELECT, INSERT, UPDATE (confirmed_at, last_used_step), DELETE",
    "mfa_recovery_codes": "SELECT (user_id, id, created_at, used_at), INSERT, DELETE",
    "mfa_failures": "SELECT, INSERT, DELETE",
    "passkeys": "SELECT, INSERT, UPDATE (name, sign_count, last_used_at), DELETE",
}

SCHEMA = r"""
-- How a session was authenticated, carried across org switches (a switch opens a new row):
-- when the person signed in, when they last proved it (password or second factor: step-up),
-- and which second factor this sign-in used (NULL: none).
ALTER TABLE user_sessions
  ADD COLUMN signed_in_at timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN reauth_at    timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN mfa_method   text CHECK (mfa_method IN ('totp', 'passkey', 'recovery'));

-- Password reset and email change links. Only the SHA-256 of the token is kept.
CREATE TABLE account_tokens (
  id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  purpose    text NOT NULL CHECK (purpose IN ('password_reset', 'email_change')),
  token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  new_email  text CHECK (length(new_email) BETWEEN 3 AND 254),
  ip         text,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at    timestamptz
);
CREATE INDEX account_tokens_user_idx ON account_tokens (user_id, purpose, created_at);

-- One TOTP authenticator per person; the secret is encrypted by the app (never plain).
CREATE TABLE mfa_totp (
  user_id        uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  secret_enc     text NOT NULL,
  confirmed_at   timestamptz,          -- NULL while enrolling
  last_used_step bigint,               -- a code is accepted once (replay)
  created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mfa_recovery_codes (
  user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  id         uuid NOT NULL DEFAULT gen_random_uuid(),
  code_hash  bytea NOT NULL CHECK (length(code_hash) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  used_at    timestamptz,
  PRIMARY KEY (user_id, id)
);

-- Wrong second-factor codes, counted per person (brute force throttling).
CREATE TABLE mfa_failures (
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  id      bigint GENERATED ALWAYS AS IDENTITY,
  at      timestamptz NOT NULL DEFAULT now(),
  ip      text,
  PRIMARY KEY (user_id, id)
);

CREATE TABLE passkeys (
  user_id       uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  id            uuid NOT NULL DEFAULT gen_random_uuid(),
  credential_id bytea NOT NULL UNIQUE CHECK (length(credential_id) BETWEEN 16 AND 1023),
  public_key    bytea NOT NULL,
  sign_count    bigint NOT NULL DEFAULT 0,
  name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
  transports    text[] NOT NULL DEFAULT '{}',
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  PRIMARY KEY (user_id, id)
);

-- Open sign-up: nobody exists yet, so this is global and the app role cannot read it.
CREATE TABLE signup_requests (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
  name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  password_hash text NOT NULL,
  token_hash    bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  ip            text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  used_at       timestamptz
);
CREATE INDEX signup_requests_email_idx ON signup_requests (lower(email), created_at);

------------------------------------------------------------------ before anyone is signed in
-- Start a password reset for an email. Returns the person (id, email, name) to mail, or no
-- row: unknown or deactivated address, or already max_per_hour links in the last hour.
-- Older unused links of that person stop working (only the newest link is good).
CREATE FUNCTION app_password_reset_request(p_email text, p_token_hash bytea, p_ttl_seconds integer,
                                           p_max_per_hour integer, p_ip text)
RETURNS TABLE (user_id uuid, email text, name text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_user users%ROWTYPE;
BEGIN
  SELECT * INTO v_user FROM users u WHERE lower(u.email) = lower(btrim(p_email)) AND u.is_active;
  IF NOT FOUND THEN RETURN; END IF;
  PERFORM 1 FROM users u WHERE u.id = v_user.id FOR UPDATE;  -- one request at a time
  IF (SELECT count(*) FROM account_tokens t WHERE t.user_id = v_user.id
        AND t.purpose = 'password_reset' AND t.created_at > now() - interval '1 hour')
     >= p_max_per_hour THEN
    RETURN;
  END IF;
  UPDATE account_tokens t SET used_at = now()
   WHERE t.user_id = v_user.id AND t.purpose = 'password_reset' AND t.used_at IS NULL;
  INSERT INTO account_tokens (user_id, purpose, token_hash, ip, expires_at)
  VALUES (v_user.id, 'password_reset', p_token_hash, left(p_ip, 64),
          now() + make_interval(secs => least(greatest(p_ttl_seconds, 60), 86400)));
  RETURN QUERY SELECT v_user.id, v_user.email, v_user.name;
END
$$;

-- What the reset page needs to know about a token: whose address, and whether it is usable.
CREATE FUNCTION app_password_reset_lookup(p_token_hash bytea)
RETURNS TABLE (email text, status text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT u.email,
         CASE WHEN t.used_at IS NOT NULL THEN 'used'
              WHEN t.expires_at <= now() THEN 'expired'
              ELSE 'valid' END
    FROM account_tokens t JOIN users u ON u.id = t.user_id AND u.is_active
   WHERE t.token_hash = p_token_hash AND t.purpose = 'password_reset'
$$;

-- Use a reset token: set the new password hash, spend the token (and any other), and end
-- every session of that person, all in one transaction. Returns the outcome and the person.
CREATE FUNCTION app_password_reset_complete(p_token_hash bytea, p_password_hash text)
RETURNS TABLE (outcome text, user_id uuid)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_token account_tokens%ROWTYPE;
BEGIN
  SELECT * INTO v_token FROM account_tokens t
   WHERE t.token_hash = p_token_hash AND t.purpose = 'password_reset' FOR UPDATE;
  IF NOT FOUND OR NOT EXISTS (SELECT 1 FROM users u WHERE u.id = v_token.user_id AND u.is_active)
  THEN
    RETURN QUERY SELECT 'not_found'::text, NULL::uuid; RETURN;
  END IF;
  IF v_token.used_at IS NOT NULL THEN
    RETURN QUERY SELECT 'used'::text, NULL::uuid; RETURN;
  END IF;
  IF v_token.expires_at <= now() THEN
    RETURN QUERY SELECT 'expired'::text, NULL::uuid; RETURN;
  END IF;
  IF p_password_hash IS NULL OR p_password_hash NOT LIKE '$argon2id$%' THEN
    RAISE EXCEPTION 'not a password hash' USING ERRCODE = 'check_violation';
  END IF;
  UPDATE users u SET password_hash = p_password_hash WHERE u.id = v_token.user_id;
  UPDATE account_tokens t SET used_at = now()
   WHERE t.user_id = v_token.user_id AND t.purpose = 'password_reset' AND t.used_at IS NULL;
  UPDATE user_sessions s SET revoked_at = now(), revoked_reason = 'password reset'
   WHERE s.user_id = v_token.user_id AND s.revoked_at IS NULL;
  RETURN QUERY SELECT 'reset'::text, v_token.user_id;
END
$$;

-- Open sign-up, step 1: keep the request (hashed token). 'exists' when the address already
-- has an account (the app mails a hint instead), 'throttled' past max_per_hour, else 'sent'.
CREATE FUNCTION app_signup_request(p_email text, p_name text, p_password_hash text,
                                   p_token_hash bytea, p_ttl_seconds integer,
                                   p_max_per_hour integer, p_ip text)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM users u WHERE lower(u.email) = lower(btrim(p_email))) THEN
    RETURN 'exists';
  END IF;
  IF (SELECT count(*) FROM signup_requests r WHERE lower(r.email) = lower(btrim(p_email))
        AND r.created_at > now() - interval '1 hour') >= p_max_per_hour THEN
    RETURN 'throttled';
  END IF;
  IF p_password_hash IS NULL OR p_password_hash NOT LIKE '$argon2id$%' THEN
    RAISE EXCEPTION 'not a password hash' USING ERRCODE = 'check_violation';
  END IF;
  INSERT INTO signup_requests (email, name, password_hash, token_hash, ip, expires_at)
  VALUES (btrim(p_email), btrim(p_name), p_password_hash, p_token_hash, left(p_ip, 64),
          now() + make_interval(secs => least(greatest(p_ttl_seconds, 60), 7 * 86400)));
  RETURN 'sent';
END
$$;

-- Open sign-up, step 2: the link from the mail creates the account (email proven).
CREATE FUNCTION app_signup_complete(p_token_hash bytea)
RETURNS TABLE (outcome text, user_id uuid)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_req signup_requests%ROWTYPE;
  v_user uuid;
BEGIN
  SELECT * INTO v_req FROM signup_requests r WHERE r.token_hash = p_token_hash FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'not_found'::text, NULL::uuid; RETURN;
  END IF;
  IF v_req.used_at IS NOT NULL THEN
    RETURN QUERY SELECT 'used'::text, NULL::uuid; RETURN;
  END IF;
  IF v_req.expires_at <= now() THEN
    RETURN QUERY SELECT 'expired'::text, NULL::uuid; RETURN;
  END IF;
  UPDATE signup_requests r SET used_at = now() WHERE r.id = v_req.id;
  IF EXISTS (SELECT 1 FROM users u WHERE lower(u.email) = lower(v_req.email)) THEN
    RETURN QUERY SELECT 'exists'::text, NULL::uuid; RETURN;
  END IF;
  INSERT INTO users (email, name, password_hash)
  VALUES (v_req.email, v_req.name, v_req.password_hash) RETURNING id INTO v_user;
  RETURN QUERY SELECT 'created'::text, v_user;
END
$$;

-- A passkey sign-in names a credential id before anyone is known: which person and key.
CREATE FUNCTION app_passkey_lookup(p_credential_id bytea)
RETURNS TABLE (user_id uuid, passkey_id uuid, public_key bytea, sign_count bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT p.user_id, p.id, p.public_key, p.sign_count
    FROM passkeys p JOIN users u ON u.id = p.user_id AND u.is_active
   WHERE p.credential_id = p_credential_id
$$;

-- Spend one of the signed-in (or second-factor-pending) person's recovery codes: true once.
CREATE FUNCTION app_mfa_use_recovery_code(p_code_hash bytea) RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  WITH used AS (
    UPDATE mfa_recovery_codes SET used_at = now()
     WHERE user_id = app_current_user() AND code_hash = p_code_hash AND used_at IS NULL
    RETURNING 1)
  SELECT EXISTS (SELECT 1 FROM used)
$$;

------------------------------------------------------------------ one's own users row
-- The signed-in person's own password hash (to check "current password"), nobody else's.
CREATE FUNCTION app_account_password_hash() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT password_hash FROM users WHERE id = app_current_user() AND is_active
$$;

-- Set one's own password; every other session of that person ends. Returns how many ended.
CREATE FUNCTION app_account_set_password(p_password_hash text, p_keep_session uuid)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_user uuid := app_current_user();
  v_count integer;
BEGIN
  IF v_user IS NULL OR p_password_hash IS NULL OR p_password_hash NOT LIKE '$argon2id$%' THEN
    RAISE EXCEPTION 'no signed-in user or not a password hash'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  UPDATE users SET password_hash = p_password_hash WHERE id = v_user AND is_active;
  UPDATE user_sessions SET revoked_at = now(), revoked_reason = 'password changed'
   WHERE user_sessions.user_id = v_user AND revoked_at IS NULL
     AND id IS DISTINCT FROM p_keep_session;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END
$$;

CREATE FUNCTION app_account_set_name(p_name text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  UPDATE users SET name = btrim(p_name) WHERE id = app_current_user() AND is_active
$$;

-- Apply one's own email change link (the new address is proven by the mail it reached).
CREATE FUNCTION app_account_confirm_email(p_token_hash bytea)
RETURNS TABLE (outcome text, old_email text, new_email text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_user uuid := app_current_user();
  v_token account_tokens%ROWTYPE;
  v_old text;
BEGIN
  SELECT * INTO v_token FROM account_tokens t
   WHERE t.token_hash = p_token_hash AND t.purpose = 'email_change' FOR UPDATE;
  IF NOT FOUND OR v_token.user_id IS DISTINCT FROM v_user THEN
    RETURN QUERY SELECT 'not_found'::text, NULL::text, NULL::text; RETURN;
  END IF;
  IF v_token.used_at IS NOT NULL THEN
    RETURN QUERY SELECT 'used'::text, NULL::text, NULL::text; RETURN;
  END IF;
  IF v_token.expires_at <= now() THEN
    RETURN QUERY SELECT 'expired'::text, NULL::text, NULL::text; RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM users u WHERE lower(u.email) = lower(v_token.new_email)) THEN
    UPDATE account_tokens SET used_at = now() WHERE id = v_token.id;
    RETURN QUERY SELECT 'taken'::text, NULL::text, NULL::text; RETURN;
  END IF;
  SELECT u.email INTO v_old FROM users u WHERE u.id = v_user FOR UPDATE;
  UPDATE users SET email = v_token.new_email WHERE id = v_user;
  UPDATE account_tokens SET used_at = now()
   WHERE account_tokens.user_id = v_user AND purpose = 'email_change' AND used_at IS NULL;
  RETURN QUERY SELECT 'changed'::text, v_old, v_token.new_email;
END
$$;

-- Is this address free for an email change? (true/false only, never whose it is.)
CREATE FUNCTION app_account_email_free(p_email text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT app_current_user() IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM users u WHERE lower(u.email) = lower(btrim(p_email)))
$$;

------------------------------------------------------------------ joining by email domain
-- Orgs the signed-in person may join because their address is at a domain the org verified
-- and the org turned domain joining on (settings.domain_join); not those they belong to.
CREATE FUNCTION app_account_joinable_orgs()
RETURNS TABLE (org_id uuid, slug text, name text, role text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT o.id, o.slug, o.name, coalesce(o.settings->>'domain_join_role', 'member')
    FROM users u
    JOIN sso_domains d ON d.domain = lower(split_part(u.email, '@', 2))
                      AND d.verified_at IS NOT NULL
    JOIN organizations o ON o.id = d.org_id AND o.status = 'active'
                        AND coalesce((o.settings->>'domain_join')::boolean, false)
   WHERE u.id = app_current_user() AND u.is_active
     AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.org_id = o.id AND m.user_id = u.id)
   ORDER BY lower(o.name)
$$;

-- Join such an org with its default role. Returns the role, or NULL when not allowed.
CREATE FUNCTION app_account_join_by_domain(p_org uuid) RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_role text;
BEGIN
  SELECT j.role INTO v_role FROM app_account_joinable_orgs() j WHERE j.org_id = p_org;
  IF NOT FOUND OR v_role NOT IN ('admin', 'member', 'guest') THEN
    RETURN NULL;
  END IF;
  INSERT INTO memberships (org_id, user_id, role) VALUES (p_org, app_current_user(), v_role);
  RETURN v_role;
END
$$;
"""

FUNCTIONS = [
    "app_password_reset_request(text, bytea, integer, integer, text)",
    "app_password_reset_lookup(bytea)",
    "app_password_reset_complete(bytea, text)",
    "app_signup_request(text, text, text, bytea, integer, integer, text)",
    "app_signup_complete(bytea)",
    "app_passkey_lookup(bytea)",
    "app_mfa_use_recovery_code(bytea)",
    "app_account_password_hash()",
    "app_account_set_password(text, uuid)",
    "app_account_set_name(text)",
    "app_account_confirm_email(bytea)",
    "app_account_email_free(text)",
    "app_account_joinable_orgs()",
    "app_account_join_by_domain(uuid)",
]

GRANTS = """
GRANT UPDATE (reauth_at, mfa_method) ON user_sessions TO tenantdesk_app;
REVOKE ALL ON signup_requests FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON signup_requests TO tenantdesk_definer;
GRANT SELECT, INSERT, UPDATE ON account_tokens TO tenantdesk_definer;
GRANT SELECT ON passkeys, sso_domains TO tenantdesk_definer;
GRANT SELECT, UPDATE (used_at) ON mfa_recovery_codes TO tenantdesk_definer;
GRANT INSERT ON users TO tenantdesk_definer;
GRANT UPDATE (email, name, password_hash) ON users TO tenantdesk_definer;
GRANT UPDATE (revoked_at, revoked_reason) ON user_sessions TO tenantdesk_definer;
GRANT SELECT ON user_sessions TO tenantdesk_definer;
"""


def person_table(table: str, grants: str) -> list[str]:
    """Forced RLS on the current person: one's own rows only, for every command."""
    own = "user_id = (SELECT app_current_user())"
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {table}_select ON {table} FOR SELECT USING ({own})",
        f"CREATE POLICY {table}_insert ON {table} FOR INSERT WITH CHECK ({own})",
        f"CREATE POLICY {table}_update ON {table} FOR UPDATE USING ({own}) WITH CHECK ({own})",
        f"CREATE POLICY {table}_delete ON {table} FOR DELETE USING ({own})",
        f"REVOKE ALL ON {table} FROM PUBLIC",
        f"GRANT {grants} ON {table} TO tenantdesk_app",
    ]


def upgrade() -> None:
    op.execute(SCHEMA)
    statements = []
    for table, grants in PERSON_TABLES.items():
        statements += person_table(table, grants)
    for signature in FUNCTIONS:
        statements += definer_function(signature)
    for statement in statements:
        op.execute(statement)
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS " + ", ".join(FUNCTIONS) + ";"
        " DROP TABLE IF EXISTS signup_requests, passkeys, mfa_failures, mfa_recovery_codes, mfa_totp,"
        " account_tokens CASCADE;"
        " ALTER TABLE user_sessions DROP COLUMN IF EXISTS signed_in_at,"
        " DROP COLUMN IF EXISTS reauth_at, DROP COLUMN IF EXISTS mfa_method;"
    )
