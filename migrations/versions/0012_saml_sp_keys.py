"""The installation's SAML SP key pair (signed AuthnRequests and logout messages, encrypted
assertions), global like the access-token keys: every app server signs with the same key.
The private key is sealed by the app (AES-GCM, dashboard/sso/crypto.py); see
dashboard/sso/sp_keys.py for the two-step rotation.

Revision ID: 0012_saml_sp_keys
Revises: 0011_sso_refusals
"""

from alembic import op

revision = "0012_saml_sp_keys"
down_revision = "0011_sso_refusals"
branch_labels = None
depends_on = None

SCHEMA = r"""
CREATE TABLE saml_sp_keys (
  id              text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{8,64}$'),
  certificate     text NOT NULL,   -- base64 DER X.509: public, published in SP metadata
  private_key_enc bytea NOT NULL,  -- sealed PKCS#8 PEM, associated data = id
  not_after       timestamptz NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  activated_at    timestamptz,     -- NULL: the next key, published but not used yet
  retired_at      timestamptz      -- no longer signs; still decrypts for a while
);
-- At most one key signs at a time, whatever races between app servers.
CREATE UNIQUE INDEX saml_sp_keys_one_active ON saml_sp_keys ((true))
  WHERE activated_at IS NOT NULL AND retired_at IS NULL;

REVOKE ALL ON saml_sp_keys FROM PUBLIC;
GRANT SELECT, INSERT ON saml_sp_keys TO tenantdesk_app;
GRANT UPDATE (activated_at, retired_at) ON saml_sp_keys TO tenantdesk_app;
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS saml_sp_keys")
