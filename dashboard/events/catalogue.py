"""The event catalogue: every event type Tenantdesk sends, in one registry.

Like Sentry's outbox categories (one enum, each category bound to one scope, checked at
import time), each ``EventType`` is bound to exactly one ``EventSpec``: its group, its payload
version, what it means, and the audit actions that produce it. Events are not emitted by the
services: every audit row of an org with a destination becomes an outbox row in the same
transaction (the trigger of migration 0011_events), and the worker maps its action here.
So a service that audits a change has emitted its event; it cannot forget to.

Payloads are versioned per type (``"version"`` in the body). A new field is additive and
keeps the version; renaming or removing one is a new version, announced in the README.

Adding an event type: add the enum member and its ``EventSpec`` (naming the audit actions
that produce it). ``tests/unit/test_event_catalogue.py`` checks the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EventType(StrEnum):
    ORGANIZATION_CREATED = "organization.created"
    ORGANIZATION_UPDATED = "organization.updated"
    ORGANIZATION_SUSPENDED = "organization.suspended"
    ORGANIZATION_REACTIVATED = "organization.reactivated"
    ORGANIZATION_DELETION_SCHEDULED = "organization.deletion_scheduled"
    ORGANIZATION_DELETION_CANCELLED = "organization.deletion_cancelled"
    MEMBERSHIP_CREATED = "membership.created"
    MEMBERSHIP_ROLE_CHANGED = "membership.role_changed"
    MEMBERSHIP_UPDATED = "membership.updated"
    MEMBERSHIP_REMOVED = "membership.removed"
    INVITATION_CREATED = "invitation.created"
    INVITATION_RESENT = "invitation.resent"
    INVITATION_ACCEPTED = "invitation.accepted"
    INVITATION_REVOKED = "invitation.revoked"
    ROLE_CREATED = "role.created"
    ROLE_UPDATED = "role.updated"
    ROLE_DELETED = "role.deleted"
    SSO_CONNECTION_CREATED = "sso_connection.created"
    SSO_CONNECTION_UPDATED = "sso_connection.updated"
    SSO_CONNECTION_DELETED = "sso_connection.deleted"
    DOMAIN_CREATED = "domain.created"
    DOMAIN_VERIFIED = "domain.verified"
    DOMAIN_DELETED = "domain.deleted"
    SCIM_USER_CREATED = "scim.user_created"
    SCIM_USER_UPDATED = "scim.user_updated"
    SCIM_USER_DEACTIVATED = "scim.user_deactivated"
    SCIM_USER_REACTIVATED = "scim.user_reactivated"
    SCIM_USER_DELETED = "scim.user_deleted"
    SCIM_GROUP_CREATED = "scim.group_created"
    SCIM_GROUP_UPDATED = "scim.group_updated"
    SCIM_GROUP_DELETED = "scim.group_deleted"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    API_KEY_UPDATED = "api_key.updated"
    PLAN_CHANGED = "plan.changed"
    LICENSE_UPDATED = "license.updated"
    USAGE_QUOTA_WARNING = "usage.quota_warning"


GROUPS = (
    "organization", "membership", "invitation", "role", "sso_connection", "domain", "scim",
    "api_key", "plan", "license", "usage",
)


@dataclass(frozen=True)
class EventSpec:
    description: str
    actions: tuple[str, ...]  # audit actions that produce it
    version: int = 1

    def group(self, event_type: EventType) -> str:
        return event_type.value.split(".", 1)[0]


def _spec(description: str, *actions: str, version: int = 1) -> EventSpec:
    return EventSpec(description, actions, version)


E = EventType
CATALOGUE: dict[EventType, EventSpec] = {
    E.ORGANIZATION_CREATED: _spec("An organization was created.", "org.create"),
    E.ORGANIZATION_UPDATED: _spec("Its name, settings or metadata changed.", "org.update"),
    E.ORGANIZATION_SUSPENDED: _spec("It was suspended; nobody can sign in.", "org.suspend"),
    E.ORGANIZATION_REACTIVATED: _spec("A suspended organization is active again.",
                                      "org.reactivate"),
    E.ORGANIZATION_DELETION_SCHEDULED: _spec("Deletion was scheduled after a grace period.",
                                             "org.schedule_deletion"),
    E.ORGANIZATION_DELETION_CANCELLED: _spec("A scheduled deletion was cancelled.",
                                             "org.cancel_deletion"),
    E.MEMBERSHIP_CREATED: _spec("Someone joined (an accepted invitation).", "invitation.accept"),
    E.MEMBERSHIP_ROLE_CHANGED: _spec("A member's role changed (by hand or by IdP groups).",
                                     "member.role_change", "member.role_changed"),
    E.MEMBERSHIP_UPDATED: _spec("A member's metadata changed (before and after in details).",
                                "member.update"),
    E.MEMBERSHIP_REMOVED: _spec("A member was removed or left.", "member.remove",
                                "member.leave"),
    E.INVITATION_CREATED: _spec("An invitation was sent.", "invitation.create"),
    E.INVITATION_RESENT: _spec("A pending invitation was sent again (a new link).",
                               "invitation.refresh", "invitation.resend"),
    E.INVITATION_ACCEPTED: _spec("An invitation was accepted.", "invitation.accept"),
    E.INVITATION_REVOKED: _spec("A pending invitation was revoked.", "invitation.revoke"),
    E.ROLE_CREATED: _spec("A custom role was created.", "role.create"),
    E.ROLE_UPDATED: _spec("A custom role's permissions changed.", "role.update"),
    E.ROLE_DELETED: _spec("A custom role was deleted.", "role.delete"),
    E.SSO_CONNECTION_CREATED: _spec("An SSO connection was set up.", "sso.connection_created"),
    E.SSO_CONNECTION_UPDATED: _spec("An SSO connection or its options changed.",
                                    "sso.connection_updated"),
    E.SSO_CONNECTION_DELETED: _spec("An SSO connection was removed.", "sso.connection_deleted"),
    # SSO (email) domains and custom hosts (dashboard/hosts); data.action tells which.
    E.DOMAIN_CREATED: _spec("A domain was claimed (not yet verified).", "sso.domain_claimed",
                            "host.domain_added"),
    E.DOMAIN_VERIFIED: _spec("A domain's DNS record was verified.", "sso.domain_verified",
                             "host.domain_verified"),
    E.DOMAIN_DELETED: _spec("A domain was removed.", "sso.domain_removed",
                            "host.domain_removed"),
    E.SCIM_USER_CREATED: _spec("The directory (SCIM) provisioned a user.", "scim.user.create"),
    E.SCIM_USER_UPDATED: _spec("The directory changed a user.", "scim.user.update"),
    E.SCIM_USER_DEACTIVATED: _spec("The directory deactivated a user (membership ended).",
                                   "scim.user.deactivate"),
    E.SCIM_USER_REACTIVATED: _spec("The directory reactivated a user.", "scim.user.reactivate"),
    E.SCIM_USER_DELETED: _spec("The directory deleted a user.", "scim.user.delete"),
    E.SCIM_GROUP_CREATED: _spec("The directory pushed a new group.", "scim.group.create"),
    E.SCIM_GROUP_UPDATED: _spec("A directory group or its members changed.",
                                "scim.group.update"),
    E.SCIM_GROUP_DELETED: _spec("A directory group was deleted.", "scim.group.delete"),
    E.API_KEY_CREATED: _spec("An org API key was created.", "apikey.create"),
    E.API_KEY_REVOKED: _spec("An org API key was revoked.", "apikey.revoke"),
    E.API_KEY_UPDATED: _spec("An org API key's metadata changed.", "apikey.update"),
    E.PLAN_CHANGED: _spec("The organization's plan changed.", "license.change_plan"),
    E.LICENSE_UPDATED: _spec("A feature override was set or cleared.",
                             "license.set_override", "license.clear_override"),
    E.USAGE_QUOTA_WARNING: _spec("Usage reached 80 % of a quota (once per metric and period).",
                                 "usage.quota_warning"),
}
del E

# ------------------------------------------------------------- import-time registry checks
# Like Sentry's category registry: a type without a spec, a spec outside the known groups or
# an action claimed twice for the same type is a programming error, caught on import.
assert set(CATALOGUE) == set(EventType), set(EventType) ^ set(CATALOGUE)
for _type, _spec_of in CATALOGUE.items():
    assert _spec_of.group(_type) in GROUPS, _type
    assert _spec_of.actions and len(set(_spec_of.actions)) == len(_spec_of.actions), _type

ACTION_TYPES: dict[str, tuple[EventType, ...]] = {}
for _type, _spec_of in CATALOGUE.items():
    for _action in _spec_of.actions:
        ACTION_TYPES[_action] = (*ACTION_TYPES.get(_action, ()), _type)
del _type, _spec_of, _action

ALL_TYPES = tuple(t.value for t in EventType)
MAX_FILTER = len(ALL_TYPES)


def types_for(action: str) -> tuple[EventType, ...]:
    """Event types an audit action produces (none for actions outside the catalogue)."""
    return ACTION_TYPES.get(action, ())


def payload(event_type: str, audit_row) -> dict:
    """The JSON body of ``event_type`` built from its audit row (deterministic, so every
    retry sends the same bytes)."""
    spec = CATALOGUE[EventType(event_type)]
    return {
        "type": event_type,
        "version": spec.version,
        "id": message_id(audit_row.id, event_type),
        "timestamp": audit_row.at.isoformat(),
        "organization_id": str(audit_row.org_id),
        "data": {
            "action": audit_row.action,
            "actor": audit_row.actor,
            "target": audit_row.target,
            "details": audit_row.details or {},
        },
    }


def message_id(audit_event_id, event_type: str) -> str:
    """The event's id (``webhook-id``): the same across retries, so receivers deduplicate."""
    return f"evt_{str(audit_event_id).replace('-', '')}_{event_type}"


def audit_record(audit_row) -> dict:
    """An audit event as an audit-log stream sends it (every action, not only catalogued)."""
    return {
        "id": str(audit_row.id),
        "organization_id": str(audit_row.org_id),
        "timestamp": audit_row.at.isoformat(),
        "action": audit_row.action,
        "actor": audit_row.actor,
        "actor_user_id": str(audit_row.actor_user_id) if audit_row.actor_user_id else None,
        "target": audit_row.target,
        "ip": audit_row.ip,
        "details": audit_row.details or {},
    }
