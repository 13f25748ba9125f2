"""SQLAlchemy models, one module per aggregate. Import models from their module."""

from dashboard.models.accounts import (
    AccountToken,
    MfaFailure,
    Passkey,
    RecoveryCode,
    TotpFactor,
)
from dashboard.models.audit import AuditEvent
from dashboard.models.base import Base
from dashboard.models.credentials import OrgCredential, SupportGrant
from dashboard.models.events import (
    DeliveryAttempt,
    EventDelivery,
    EventDestination,
    OutboxEvent,
)
from dashboard.models.hosts import CustomDomain, OrgBranding
from dashboard.models.invitations import Invitation
from dashboard.models.licenses import (
    FeatureDefinition,
    FeatureOverride,
    License,
    Plan,
    PlanFeature,
    PlanQuota,
)
from dashboard.models.orgs import CustomRole, MemberCount, Membership, Organization
from dashboard.models.scim import ScimGroup, ScimGroupMember, ScimRequestLog, ScimUser
from dashboard.models.signing_keys import SigningKey
from dashboard.models.sso import (
    SsoConnection,
    SsoDomain,
    SsoIdentity,
    SsoLoginRequest,
    SsoSeenAssertion,
)
from dashboard.models.users import LoginAttempt, User, UserSession

__all__ = [
    "AccountToken",
    "AuditEvent",
    "Base",
    "CustomDomain",
    "CustomRole",
    "DeliveryAttempt",
    "EventDelivery",
    "EventDestination",
    "FeatureDefinition",
    "FeatureOverride",
    "Invitation",
    "License",
    "LoginAttempt",
    "MemberCount",
    "Membership",
    "MfaFailure",
    "OrgCredential",
    "OutboxEvent",
    "Passkey",
    "RecoveryCode",
    "Organization",
    "OrgBranding",
    "Plan",
    "ScimGroup",
    "ScimGroupMember",
    "ScimRequestLog",
    "ScimUser",
    "PlanFeature",
    "PlanQuota",
    "SigningKey",
    "SsoConnection",
    "SsoDomain",
    "SsoIdentity",
    "SsoLoginRequest",
    "SsoSeenAssertion",
    "SupportGrant",
    "TotpFactor",
    "User",
    "UserSession",
]
