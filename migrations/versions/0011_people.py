"""People under row-level security: users, user_sessions and login_attempts.

Revision ID: 0011_people
Revises: every head before it (it reads invitations, org_credentials, providers,
user_sessions.auth_method, and must come after every grant it narrows)

Until now ``users`` and ``user_sessions`` were global tables the runtime role read and wrote
freely: from any tenant context it could read every person's email, password hash and
browser sessions and rewrite anyone's email or hash. Now both are person-scoped
(``dashboard/tenancy.py``):

- ``users``: forced RLS. The runtime role reads the current person's own row and the rows of
  the current org's members (through the gate), and only the columns pages need (column
  privileges: never ``password_hash``, nor any column added later unless granted here). It
  writes no row at all: a new account and one's own ``last_org_id`` go through the narrow
  functions below.
- ``user_sessions``: forced RLS on the current person: one's own sessions only (read, open,
  touch, revoke). Revoking other people's sessions (SSO becoming required in an org) goes
  through ``app_revoke_org_password_sessions``.
- ``login_attempts``: no privilege at all for the runtime role. ``app_login_begin`` takes a
  transaction-level advisory lock on the email, counts the recent failures, records this
  attempt before the password is checked (record-then-count) and only then hands out the
  user id and hash for the check; ``app_login_succeeded`` clears the email's failures. So
  concurrent guesses for one email are evaluated one at a time, at most the limit of them.

Cross-person look-ups (sign-in, "does this email have an account", session checks of
bearer tokens, a partner key's hash) are SECURITY DEFINER functions owned by ``tenantdesk_definer``, each returning
only what its step needs. ``app_operator_*`` functions are for the operator (the migration
role: ``tenantdesk make-staff``, the demo seed), not executable by the runtime role.
"""

from alembic import op

from dashboard.rls_sql import ME, definer_function, person_table, readable_except

revision = "0011_people"
down_revision = (
    "0002_plans_b_terms", "0003_usage_b", "0004_sessions", "0005_members", "0006_sso",
    "0007_api", "0010_support",
    "0020_perf",  # its backfill reads users as the owner: before users is under forced RLS
)
branch_labels = None
depends_on = None

FUNCTIONS = r"""
-- Sign-in, step 1 (before anyone is known). Serialised per email by a transaction-level
-- advisory lock: the failures are counted and this attempt is recorded (as a failure until
-- app_login_succeeded says otherwise) while the lock is held, and the lock lasts until the
-- caller's transaction ends, i.e. after its password check. p_email: trimmed, lower-case.
-- outcome 'throttled': no user data at all; 'check': the user's id, hash and state (NULLs
-- when nobody has that email, so an unknown email costs the same and counts the same).
CREATE FUNCTION app_login_begin(p_email text, p_ip text, p_window_seconds integer,
                                p_max_per_email integer, p_max_per_ip integer)
RETURNS TABLE (outcome text, user_id uuid, password_hash text, is_active boolean)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_key   text := encode(sha256(convert_to(p_email, 'UTF8')), 'hex');
  v_since timestamptz;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('login:' || v_key, 0));
  v_since := clock_timestamp() - make_interval(secs => greatest(p_window_seconds, 1));
  IF (SELECT count(*) FROM login_attempts a WHERE a.email_key = v_key AND a.at > v_since)
       >= p_max_per_email
     OR (SELECT count(*) FROM login_attempts a WHERE a.ip = left(p_ip, 64) AND a.at > v_since)
       >= p_max_per_ip THEN
    RETURN QUERY SELECT 'throttled'::text, NULL::uuid, NULL::text, NULL::boolean;
    RETURN;
  END IF;
  INSERT INTO login_attempts (email_key, ip, at) VALUES (v_key, left(p_ip, 64), clock_timestamp());
  RETURN QUERY SELECT 'check'::text, u.id, u.password_hash, u.is_active
                 FROM users u WHERE lower(u.email) = p_email;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'check'::text, NULL::uuid, NULL::text, NULL::boolean;
  END IF;
END
$$;

-- Sign-in, step 2, after the password matched: the email's failures are forgotten.
CREATE FUNCTION app_login_succeeded(p_email text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  DELETE FROM login_attempts
   WHERE email_key = encode(sha256(convert_to(p_email, 'UTF8')), 'hex')
$$;

-- Does an account use this email? (Invitations: "sign in to accept"; SSO: link, never take
-- over.) A yes/no only: no id, no name.
CREATE FUNCTION app_email_taken(p_email text) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower(btrim(p_email)))
$$;

-- A new account, created while acting as its (fresh) id: accepting an invitation, SSO JIT,
-- sign-up. Never staff. A taken email raises unique_violation.
CREATE FUNCTION app_create_user(p_email text, p_name text, p_password_hash text) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_user uuid := app_current_user();
BEGIN
  IF v_user IS NULL THEN
    RAISE EXCEPTION 'act as the new account''s id' USING ERRCODE = 'insufficient_privilege';
  END IF;
  INSERT INTO users (id, email, name, password_hash)
  VALUES (v_user, btrim(p_email), btrim(p_name), p_password_hash);
  RETURN v_user;
END
$$;

-- The current person's last active org (where the next sign-in lands).
CREATE FUNCTION app_set_last_org(p_org uuid) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  UPDATE users SET last_org_id = p_org
   WHERE id = app_current_user()
     AND EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = users.id AND m.org_id = p_org)
$$;

-- Is this browser session still live for exactly this (user, org)? For access tokens, which
-- are checked before the request has a context. Needs the session id: a yes/no only.
CREATE FUNCTION app_session_live(p_session uuid, p_user uuid, p_org uuid, p_idle interval)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT EXISTS (
    SELECT 1 FROM user_sessions s JOIN users u ON u.id = s.user_id AND u.is_active
     WHERE s.id = p_session AND s.user_id = p_user AND s.org_id = p_org
       AND s.revoked_at IS NULL AND s.last_seen_at > now() - p_idle)
$$;

-- SSO just became required in the current org (the gate's): end the password sessions
-- active there, optionally keeping the owners' (break-glass). Returns how many ended.
CREATE FUNCTION app_revoke_org_password_sessions(p_keep_owners boolean) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_org  uuid := app_current_org();
  v_rows integer;
BEGIN
  IF v_org IS NULL THEN
    RAISE EXCEPTION 'no organization' USING ERRCODE = 'insufficient_privilege';
  END IF;
  UPDATE user_sessions s SET revoked_at = now(), revoked_reason = 'sso required'
   WHERE s.org_id = v_org AND s.revoked_at IS NULL AND s.auth_method <> 'sso'
     AND s.user_id IN (SELECT m.user_id FROM memberships m
                        WHERE m.org_id = v_org AND NOT (p_keep_owners AND m.role = 'owner'));
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  RETURN v_rows;
END
$$;

-- Partner API credentials: the prefix -> the provider and its key hash (the runtime role
-- reads no hash column itself).
CREATE FUNCTION app_provider_lookup(p_prefix text)
RETURNS TABLE (provider_id uuid, name text, key_hash bytea, grace_days integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT p.id, p.name, p.key_hash, p.grace_days FROM providers p
   WHERE p_prefix ~ '^[a-z0-9]{8,16}$' AND p.key_prefix = p_prefix
$$;

------------------------------------------------------------------------------- operator only
-- The demo seed's people: the account with this email, created when missing.
CREATE FUNCTION app_operator_user(p_email text, p_name text, p_password_hash text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_user uuid;
BEGIN
  SELECT id INTO v_user FROM users WHERE lower(email) = lower(btrim(p_email));
  IF NOT FOUND THEN
    INSERT INTO users (email, name, password_hash)
    VALUES (btrim(p_email), p_name, p_password_hash) RETURNING id INTO v_user;
  END IF;
  RETURN v_user;
END
$$;

-- `tenantdesk make-staff`: returns false when nobody has that email.
CREATE FUNCTION app_operator_set_staff(p_email text, p_staff boolean) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  UPDATE users SET is_staff = p_staff WHERE lower(email) = lower(btrim(p_email));
  RETURN FOUND;
END
$$;
"""

# Columns of users the runtime role may read (of the rows its policy shows). A column added
# later stays unreadable until it is named here or in a later migration.
USER_COLUMNS = "id, email, name, is_staff, is_active, last_org_id, created_at"

USERS_PEER = (
    f"id = {ME} OR EXISTS (SELECT 1 FROM memberships m"
    " WHERE m.user_id = users.id AND m.org_id = (SELECT app_current_org()))"
)

GRANTS = f"""
REVOKE ALL ON users FROM tenantdesk_app;
GRANT SELECT ({USER_COLUMNS}) ON users TO tenantdesk_app;
REVOKE ALL ON login_attempts FROM tenantdesk_app;
GRANT INSERT, DELETE ON login_attempts TO tenantdesk_definer;
GRANT INSERT ON users TO tenantdesk_definer;
GRANT UPDATE (last_org_id, is_staff) ON users TO tenantdesk_definer;
GRANT UPDATE (revoked_at, revoked_reason) ON user_sessions TO tenantdesk_definer;
"""

HASHES = (
    ("org_credentials", "secret_hash"),
    ("invitations", "token_hash"),
    ("providers", "key_hash"),
)

DEFINER = (
    "app_login_begin(text, text, integer, integer, integer)",
    "app_login_succeeded(text)",
    "app_email_taken(text)",
    "app_create_user(text, text, text)",
    "app_set_last_org(uuid)",
    "app_session_live(uuid, uuid, uuid, interval)",
    "app_revoke_org_password_sessions(boolean)",
    "app_provider_lookup(text)",
)
OPERATOR = ("app_operator_user(text, text, text)", "app_operator_set_staff(text, boolean)")


def upgrade() -> None:
    op.execute(FUNCTIONS)
    statements = []
    # Reads: oneself and the current org's members. Writes: only through the functions above.
    statements += person_table("users", select=USERS_PEER, insert=False, update=False)
    statements += person_table("user_sessions", column="user_id")
    for signature in DEFINER:
        statements += definer_function(signature)
    for signature in OPERATOR:  # the migration role reaches these through its definer role
        statements += [
            f"ALTER FUNCTION {signature} OWNER TO tenantdesk_definer",
            f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC",
        ]
    for statement in statements:
        op.execute(statement)
    op.execute(GRANTS)
    # No hash the runtime role can read: API keys and partner keys are checked through
    # app_api_key_lookup / app_provider_lookup, invitation tokens through
    # app_invitation_lookup; the app only ever writes these columns.
    for table, column in HASHES:
        op.execute(readable_except(table, column))


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS " + ", ".join(DEFINER + OPERATOR) + ";"
        " DROP POLICY IF EXISTS users_select ON users; DROP POLICY IF EXISTS users_insert ON users;"
        " DROP POLICY IF EXISTS users_update ON users; DROP POLICY IF EXISTS users_delete ON users;"
        " DROP POLICY IF EXISTS user_sessions_select ON user_sessions;"
        " DROP POLICY IF EXISTS user_sessions_insert ON user_sessions;"
        " DROP POLICY IF EXISTS user_sessions_update ON user_sessions;"
        " DROP POLICY IF EXISTS user_sessions_delete ON user_sessions;"
        " ALTER TABLE users NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;"
        " ALTER TABLE user_sessions NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;"
        " GRANT SELECT, INSERT ON users TO tenantdesk_app;"
        " GRANT UPDATE (email, name, password_hash, last_org_id) ON users TO tenantdesk_app;"
        " GRANT SELECT, INSERT, DELETE ON login_attempts TO tenantdesk_app;"
        " GRANT SELECT ON providers, org_credentials, invitations TO tenantdesk_app;"
    )
