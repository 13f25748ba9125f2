"""What kind every table is, in this one place (tenant, person, catalogue, system).

The schema guard (tests/security/test_schema_guard.py) reads the catalogue and fails the build
for a table that is not listed here or does not behave like its kind; ``tenancy.py`` sets the
context the kinds' policies read.
"""

from __future__ import annotations

import enum


class Kind(enum.StrEnum):
    # org_id in every key, FORCE RLS, one policy per command through app_current_org().
    TENANT = "tenant"
    # FORCE RLS on the current person (app_current_user()): one's own rows, and for users the
    # current org's members; only the columns pages need are readable (never a hash/secret);
    # writes to other people's rows only through narrow SECURITY DEFINER functions.
    PERSON = "person"
    # The vendor's price list and other reference data: read-only for the runtime role,
    # no personal data.
    CATALOGUE = "catalogue"
    # Machinery written before anyone is known (sign-in throttling, SSO logins in flight, the
    # token signing keys, partner bookkeeping): no personal data and no secret readable by
    # the runtime role (each sealed exception is listed in the guard with its reason).
    SYSTEM = "system"


T, P, C, S = Kind.TENANT, Kind.PERSON, Kind.CATALOGUE, Kind.SYSTEM

TABLE_KINDS: dict[str, Kind] = {
    # tenant data
    "organizations": T,  # keyed by id rather than org_id
    "memberships": T,
    "member_counts": T,
    "member_revisions": T,  # the org's member list's revision: a search's total is kept by it
    "audit_chain_heads": T,
    "audit_checkpoints": T,
    "org_metadata": T,
    "member_metadata": T,
    "api_key_metadata": T,
    "usage_event_metadata": T,
    "sso_cert_warnings": T,
    "roles": T,
    "audit_events": T,
    "org_credentials": T,
    "support_grants": T,
    "licenses": T,
    "feature_overrides": T,
    "usage_events": T,
    "usage_daily": T,
    "usage_revisions": T,  # per-org rollup revision: what the usage cache is keyed on
    "usage_alerts": T,
    "invitations": T,
    "upgrade_requests": T,  # "request upgrade" from the not-in-plan page (issue 21)
    "sso_connections": T,
    "sso_domains": T,
    "custom_domains": T,  # an org's own hostnames, served once DNS-verified (dashboard/hosts)
    "org_branding": T,  # logo, colour, display name, support contact, white label
    "sso_identities": T,
    "sso_refusals": T,
    "scim_users": T,
    "scim_groups": T,
    "scim_group_members": T,
    "scim_requests": T,
    "directory_blocks": T,  # people the org's directory deactivated: no membership insert
    "event_destinations": T,
    "event_outbox": T,
    "event_deliveries": T,
    "event_delivery_attempts": T,
    # people: a person exists across orgs
    "users": P,
    "user_sessions": P,
    "account_tokens": P,  # password-reset and email-change links (hashes)
    "mfa_totp": P,  # TOTP secrets (encrypted)
    "mfa_recovery_codes": P,  # recovery codes (hashes, not readable by the app role)
    "mfa_failures": P,  # wrong second-factor codes (throttling)
    "passkeys": P,  # WebAuthn credentials (public keys)
    # catalogue
    "alembic_version": C,  # migration bookkeeping
    "features": C,
    "plans": C,
    "plan_features": C,
    "plan_quotas": C,
    "providers": C,  # partner accounts (their key hash readable only through a function)
    "plan_limits": C,  # per-plan limits of the isolation tiers
    "catalogue_revision": C,  # raised by any change of the five above (workers' cache key)
    "deletion_certificates": C,  # must outlive the purged org's rows; slugs and counts only
    # system
    "login_attempts": S,  # no privilege at all: only app_login_begin/_finish touch it
    "provider_orgs": S,  # a provider's external id -> org map (the provider's own data)
    "signing_keys": S,  # one access-token issuer for every org (private keys sealed)
    "saml_sp_keys": S,  # one SAML SP key pair for the installation (private keys sealed)
    "selftest_runs": S,  # isolation self-test results: counts only, shown on /trust
    "sso_login_requests": S,  # SSO logins in flight, written before anyone is known
    "sso_seen_assertions": S,  # SAML replay cache, checked before anyone is known
    # Isolation tiers (dashboard/tiers/): where each org lives is needed before its rows can
    # be read at all (definer functions only); move certificates outlive moves.
    "tenant_routes": S,
    "tenant_moves": S,
    # the key that signs the shared gate's verdict for dedicated databases (definer only)
    "tier_gate_keys": S,
    # open sign-up before the person exists: only the app_signup_* definer functions touch it
    "signup_requests": S,
}


def tables_of(*kinds: Kind) -> frozenset[str]:
    return frozenset(t for t, k in TABLE_KINDS.items() if k in kinds)


# Everything that is not tenant data: exports and the isolation tests skip these.
GLOBAL_TABLES = tables_of(Kind.PERSON, Kind.CATALOGUE, Kind.SYSTEM)
PERSON_TABLES = tables_of(Kind.PERSON)
# Tenant tables an export leaves out: no data of the org's own, only a random value that
# changes with it (a cache's key); a restore's inserts make it anew (their triggers).
NOT_EXPORTED = frozenset({"member_revisions"})
