"""Sessions area: signing keys for org-scoped access tokens (JWT).

Revision ID: 0004_sessions
Revises: 0001_foundation

Private keys live in the database so every app server signs with the same key and a
rotation is seen by all of them at once, but only encrypted (AES-256-GCM under a key derived
from TOKEN_KEY_SECRET / SECRET_KEY, which never enters the database). The public half is not
stored: it is derived from the decrypted private key, so a row written by anyone without that
secret is never trusted for verification.
"""

from alembic import op

revision = "0004_sessions"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE TABLE signing_keys (
  kid             text PRIMARY KEY CHECK (kid ~ '^[A-Za-z0-9_-]{8,64}$'),
  alg             text NOT NULL CHECK (alg IN ('ES256')),
  private_key_enc bytea NOT NULL,  -- nonce || AES-GCM(PKCS#8 DER), associated data = kid
  created_at      timestamptz NOT NULL DEFAULT now(),
  retired_at      timestamptz     -- no longer signs; still published for a while
);
-- At most one key signs at a time, whatever races between app servers.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys ((true)) WHERE retired_at IS NULL;

REVOKE ALL ON signing_keys FROM PUBLIC;
GRANT SELECT, INSERT ON signing_keys TO tenantdesk_app;
GRANT UPDATE (retired_at) ON signing_keys TO tenantdesk_app;

-- The session list of one user, newest activity first.
CREATE INDEX user_sessions_user_seen_idx ON user_sessions (user_id, last_seen_at DESC)
  WHERE revoked_at IS NULL;
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute(
        "DROP INDEX IF EXISTS user_sessions_user_seen_idx; DROP TABLE IF EXISTS signing_keys;"
    )
