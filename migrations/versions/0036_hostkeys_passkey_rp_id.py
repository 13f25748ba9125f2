"""Passkeys remember the relying party (RP ID) they were made for.

A passkey is bound by the browser to the host name it was registered on. Org hosts
(``<slug><TENANT_HOST_SUFFIX>``, verified custom domains) are relying parties of their own,
so each credential records its RP ID: sign-in offers only the passkeys of the host the person
is on, and the profile says where each one works. NULL: registered before this column
existed, i.e. on the installation's relying party (``WEBAUTHN_RP_ID`` / BASE_URL's host).

``app_passkey_lookup`` also returns the RP ID, so a credential of host A presented on host B
is refused before its signature is even checked.

Revision ID: 0036_hostkeys_passkey_rp_id
Revises: 0011_accounts
"""

from alembic import op

from dashboard.rls_sql import definer_function

revision = "0036_hostkeys_passkey_rp_id"
down_revision = "0011_accounts"
branch_labels = None
depends_on = None

LOOKUP = """
CREATE FUNCTION app_passkey_lookup(p_credential_id bytea)
RETURNS TABLE (user_id uuid, passkey_id uuid, public_key bytea, sign_count bigint{rp_out})
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
  SELECT p.user_id, p.id, p.public_key, p.sign_count{rp_col}
    FROM passkeys p JOIN users u ON u.id = p.user_id AND u.is_active
   WHERE p.credential_id = p_credential_id
$$;
"""


def _replace_lookup(with_rp: bool) -> None:
    # The result type changes, so CREATE OR REPLACE cannot do it: drop, create, grant again.
    op.execute("DROP FUNCTION app_passkey_lookup(bytea)")
    op.execute(LOOKUP.format(rp_out=", rp_id text" if with_rp else "",
                             rp_col=", p.rp_id" if with_rp else ""))
    for statement in definer_function("app_passkey_lookup(bytea)"):
        op.execute(statement)


def upgrade() -> None:
    op.execute("ALTER TABLE passkeys ADD COLUMN rp_id text"
               " CHECK (rp_id ~ '^[a-z0-9.-]{1,253}$')")
    _replace_lookup(with_rp=True)


def downgrade() -> None:
    _replace_lookup(with_rp=False)
    op.execute("ALTER TABLE passkeys DROP COLUMN rp_id")
