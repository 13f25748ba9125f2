"""Sign-in without handing out the password hash: the database compares, the app computes.

Revision ID: 0011_people_b_login
Revises: 0011_people

``app_login_begin`` used to return the user's argon2id hash so the app could verify the
password: any caller of the function (the runtime role) could collect the hash of any email,
once per attempt. Now it returns only the hash's *template* (algorithm, cost, salt, and the
digest's length as placeholder characters: nothing secret), the app computes the candidate
hash of the typed password with that salt and cost, and ``app_login_finish`` compares it with
the stored hash inside the database. So the runtime role never sees a password hash at all,
and the database itself knows whether the password matched:

- a check needs a fresh attempt recorded by ``app_login_begin`` (under the per-email lock and
  limit), and each attempt allows exactly one check: guessing through these functions is
  bounded by the limit, whoever calls them;
- only a matching check clears the email's failures (``app_login_succeeded`` is gone: it let
  any caller reset the counter);
- the limit passed by the app is capped here (at most 100 failures per email in at least one
  minute), so no configuration or caller can switch the per-email limit off.
"""

from alembic import op

from dashboard.rls_sql import definer_function

revision = "0011_people_b_login"
down_revision = "0011_people"
branch_labels = None
depends_on = None

SCHEMA = r"""
DROP FUNCTION app_login_begin(text, text, integer, integer, integer);
DROP FUNCTION app_login_succeeded(text);
ALTER TABLE login_attempts ADD COLUMN checked boolean NOT NULL DEFAULT false;
GRANT UPDATE (checked) ON login_attempts TO tenantdesk_definer;

-- Sign-in, step 1 (before anyone is known). p_email: trimmed, lower-case. Serialised per email
-- by a transaction-level advisory lock held until the caller's transaction ends (after its
-- step 2): the failures are counted and this attempt recorded (a failure until step 2 says
-- otherwise) under the lock, so concurrent guesses are evaluated one at a time.
-- outcome 'throttled': nothing else. 'check': the attempt id and the template of the user's
-- password hash (its digest replaced by 'A's), or of nobody's (NULL) when the email has no
-- active account with a password; the caller computes with the template either way.
CREATE FUNCTION app_login_begin(p_email text, p_ip text, p_window_seconds integer,
                                p_max_per_email integer, p_max_per_ip integer)
RETURNS TABLE (outcome text, attempt_id bigint, hash_template text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_key     text := encode(sha256(convert_to(p_email, 'UTF8')), 'hex');
  v_since   timestamptz;
  v_attempt bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('login:' || v_key, 0));
  v_since := clock_timestamp() - make_interval(secs => greatest(p_window_seconds, 60));
  IF (SELECT count(*) FROM login_attempts a WHERE a.email_key = v_key AND a.at > v_since)
       >= least(greatest(p_max_per_email, 1), 100)
     OR (SELECT count(*) FROM login_attempts a WHERE a.ip = left(p_ip, 64) AND a.at > v_since)
       >= greatest(p_max_per_ip, 1) THEN
    RETURN QUERY SELECT 'throttled'::text, NULL::bigint, NULL::text;
    RETURN;
  END IF;
  INSERT INTO login_attempts (email_key, ip, at)
  VALUES (v_key, left(p_ip, 64), clock_timestamp()) RETURNING id INTO v_attempt;
  RETURN QUERY
    SELECT 'check'::text, v_attempt,
           (SELECT regexp_replace(u.password_hash, '\$[^$]*$', '')
                   || '$' || repeat('A', length(substring(u.password_hash from '\$([^$]*)$')))
              FROM users u
             WHERE lower(u.email) = p_email AND u.is_active
               AND u.password_hash ~ '^\$argon2id?\$v=\d+\$[^$]+\$[^$]+\$[^$]+$');
END
$$;

-- Sign-in, step 2: the candidate hash of the typed password (computed by the caller with the
-- template), for the attempt step 1 recorded. One check per attempt. Returns the user's id
-- when it matches an active account (and forgets the email's failures), else NULL (the
-- attempt stays a failure).
CREATE FUNCTION app_login_finish(p_attempt bigint, p_email text, p_candidate text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_key  text := encode(sha256(convert_to(p_email, 'UTF8')), 'hex');
  v_user uuid;
BEGIN
  UPDATE login_attempts SET checked = true
   WHERE id = p_attempt AND email_key = v_key AND NOT checked
     AND at > clock_timestamp() - interval '5 minutes';
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  SELECT u.id INTO v_user FROM users u
   WHERE lower(u.email) = p_email AND u.is_active AND u.password_hash = p_candidate;
  IF v_user IS NOT NULL THEN
    DELETE FROM login_attempts WHERE email_key = v_key;
  END IF;
  RETURN v_user;
END
$$;
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    for signature in ("app_login_begin(text, text, integer, integer, integer)",
                      "app_login_finish(bigint, text, text)"):
        for statement in definer_function(signature):
            op.execute(statement)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS app_login_finish(bigint, text, text),"
        " app_login_begin(text, text, integer, integer, integer);"
        " ALTER TABLE login_attempts DROP COLUMN IF EXISTS checked;"
    )
