"""Readable names for the words the code uses, in one place: audit actions and permissions.

Keys stay what they are in the database, the API and the CSV export (``member.role_change``,
``usage.report``); pages show the names below. A test (tests/unit/test_vocabulary.py) finds
every audit action written by the code and every permission and fails on one without a name.
"""

from __future__ import annotations

from dashboard.permissions import Permission

PERMISSIONS: dict[str, tuple[str, str]] = {
    Permission.ORG_VIEW: ("View the organization", "Open its pages and see its name and plan."),
    Permission.ORG_SETTINGS: ("Change settings", "Organization name, security policy, data."),
    Permission.ORG_DELETE: ("Delete the organization", "Schedule the organization's deletion."),
    Permission.MEMBERS_VIEW: ("See members", "The member list, with roles and activity."),
    Permission.MEMBERS_INVITE: ("Invite people", "Send, resend and revoke invitations."),
    Permission.MEMBERS_REMOVE: ("Remove members", "Take someone out of the organization."),
    Permission.ROLES_EDIT: ("Change roles", "Give members roles and edit custom roles."),
    Permission.SSO_MANAGE: ("Manage single sign-on", "SAML/OIDC connections and domains."),
    Permission.BILLING_VIEW: ("See plan and billing", "The plan, its features and limits."),
    Permission.USAGE_VIEW: ("See usage", "Usage charts and figures."),
    Permission.USAGE_REPORT: ("Report usage", "Send usage events through the API."),
    Permission.AUDIT_VIEW: ("See the audit log", "Read, filter, verify and export it."),
    Permission.APIKEYS_MANAGE: ("Manage API keys", "Create and revoke the org's API keys."),
    Permission.SCIM_MANAGE: ("Manage directory sync", "SCIM tokens and group mappings."),
    Permission.WEBHOOKS_MANAGE: ("Manage webhooks", "Webhook endpoints and deliveries."),
    Permission.AUDIT_STREAMS: ("Stream the audit log", "Send the audit log to a SIEM."),
}

AUDIT_ACTIONS: dict[str, str] = {
    "account.email_change": "Changed their email",
    "account.mfa_added": "Added a second factor",
    "account.mfa_removed": "Removed a second factor",
    "account.mfa_verified": "Used a second factor",
    "account.name_change": "Changed their name",
    "account.password_change": "Changed their password",
    "account.password_reset": "Reset their password",
    "account.reauth": "Confirmed their identity again",
    "account.recovery_codes_regenerated": "Made new recovery codes",
    "account.session_list": "Looked at their sessions",
    "apikey.create": "Created an API key",
    "apikey.revoke": "Revoked an API key",
    "apikey.update": "Changed an API key's metadata",
    "audit_stream.create": "Added an audit-log stream",
    "audit_stream.update": "Changed an audit-log stream",
    "audit_stream.rotate_secret": "Rotated an audit-log stream's secret",
    "audit_stream.enable": "Turned an audit-log stream on",
    "audit_stream.disable": "Turned an audit-log stream off",
    "audit_stream.delete": "Deleted an audit-log stream",
    "audit_stream.redeliver": "Resent to an audit-log stream",
    "auth.login": "Signed in",
    "branding.updated": "Changed the branding",
    "auth.logout": "Signed out",
    "host.domain_added": "Added a custom domain",
    "host.domain_removed": "Removed a custom domain",
    "host.domain_verified": "Verified a custom domain",
    "invitation.accept": "Accepted an invitation",
    "invitation.create": "Invited someone",
    "invitation.refresh": "Renewed an invitation",
    "invitation.resend": "Resent an invitation",
    "invitation.revoke": "Revoked an invitation",
    "license.change_plan": "Changed the plan",
    "license.clear_override": "Cleared a feature override",
    "license.set_override": "Overrode a feature",
    "license.upgrade_request": "Asked for an upgrade",
    "license.upgrade_request_handled": "Handled an upgrade request",
    "member.join": "Joined the organization",
    "member.join_by_domain": "Joined through their email domain",
    "member.leave": "Left the organization",
    "member.remove": "Removed a member",
    "member.role_change": "Changed a member's role",
    "member.role_changed": "Changed a member's role",
    "member.update": "Changed a member's details",
    "org.create": "Created the organization",
    "org.export": "Exported the organization's data",
    "org.security_policy": "Changed the security policy",
    "org.staff_access": "Changed staff access",
    "org.update": "Changed the organization",
    "role.create": "Created a custom role",
    "role.delete": "Deleted a custom role",
    "role.update": "Changed a custom role",
    "scim.group.create": "Directory sync created a group",
    "scim.group.delete": "Directory sync deleted a group",
    "scim.group.map": "Mapped a directory group to a role",
    "scim.group.update": "Directory sync changed a group",
    "scim.token_create": "Created a directory-sync token",
    "scim.token_expire": "A directory-sync token expired",
    "scim.token_revoke": "Revoked a directory-sync token",
    "scim.token_rotate": "Rotated a directory-sync token",
    "scim.user.create": "Directory sync added a person",
    "scim.user.deactivate": "Directory sync deactivated a person",
    "scim.user.delete": "Directory sync removed a person",
    "scim.user.reactivate": "Directory sync reactivated a person",
    "scim.user.update": "Directory sync changed a person",
    "session.revoke": "Ended a session",
    "session.switch": "Switched into the organization",
    "sso.break_glass_login": "Signed in with a password (break-glass)",
    "sso.connection_created": "Set up single sign-on",
    "sso.connection_deleted": "Removed single sign-on",
    "sso.connection_tested": "Tested single sign-on",
    "sso.connection_updated": "Changed single sign-on",
    "sso.domain_claimed": "Claimed an email domain",
    "sso.domain_removed": "Removed an email domain",
    "sso.domain_verified": "Verified an email domain",
    "sso.login": "Signed in with single sign-on",
    "sso.login_failed": "Single sign-on failed",
    "sso.logout": "Signed out of single sign-on",
    "staff.request": "Staff request",
    "staff.support.enter": "Staff entered support mode",
    "staff.support.exit": "Staff left support mode",
    "staff.support.write": "Staff allowed themselves changes in support mode",
    "tenant.move.requested": "Requested a move to another isolation tier",
    "usage.quota_warning": "Usage neared a quota",
    "webhook.create": "Added a webhook",
    "webhook.update": "Changed a webhook",
    "webhook.rotate_secret": "Rotated a webhook's secret",
    "webhook.enable": "Turned a webhook on",
    "webhook.disable": "Turned a webhook off",
    "webhook.delete": "Deleted a webhook",
    "webhook.redeliver": "Resent a webhook",
}


def _spelled_out(key: str) -> str:
    """A readable guess for a key nobody named yet ("foo.bar_baz" -> "Foo: bar baz")."""
    head, _, rest = key.partition(".")
    words = rest.replace(".", " ").replace("_", " ").strip()
    head = head.replace("_", " ").capitalize()
    return f"{head}: {words}" if words else head


def action_label(key: str) -> str:
    return AUDIT_ACTIONS.get(key) or _spelled_out(key)


def permission_label(key: str) -> str:
    named = PERMISSIONS.get(key)
    return named[0] if named else _spelled_out(key)


def permission_help(key: str) -> str:
    named = PERMISSIONS.get(key)
    return named[1] if named else ""
