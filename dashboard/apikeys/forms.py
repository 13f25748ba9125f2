from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, SelectMultipleField, StringField, TextAreaField, widgets
from wtforms.validators import DataRequired, Length, Optional

from dashboard.metadata.rules import KEY_RULE, MAX_KEYS, MAX_VALUE_LENGTH
from dashboard.permissions import GRANTABLE_SCOPES

SCOPE_LABELS = {
    "org:write": "Organization: change its metadata",
    "members:read": "Members: read",
    "members:write": "Members: change roles, remove",
    "invitations:read": "Invitations: read",
    "invitations:write": "Invitations: create, revoke",
    "usage:read": "Usage: read series",
    "usage:write": "Usage: send events",
    "audit:read": "Audit log: read",
    "webhooks:read": "Webhooks: read endpoints and deliveries",
    "webhooks:write": "Webhooks: create, change, rotate, redeliver",
    "api_keys:read": "API keys: list, with their metadata",
    "api_keys:write": "API keys: change their metadata",
}


class CreateKeyForm(FlaskForm):
    name = StringField(
        "Key name",
        validators=[DataRequired(), Length(max=100)],
        description="Say what uses it, e.g. “billing sync”.",
    )
    scopes = SelectMultipleField(
        "Scopes",
        choices=[(s.value, SCOPE_LABELS.get(s.value, s.value)) for s in GRANTABLE_SCOPES],
        option_widget=widgets.CheckboxInput(),
        widget=widgets.ListWidget(prefix_label=False),
        validate_choice=True,
    )
    expires = DateField(
        "Expires on (optional)",
        validators=[Optional()],
        description="Leave empty for a key that lasts until revoked.",
    )
    metadata = TextAreaField(
        "Metadata (optional)",
        validators=[Optional(), Length(max=12000)],
        description=f"One key=value per line, e.g. team=billing: at most {MAX_KEYS} keys of "
        f"{KEY_RULE}, values up to {MAX_VALUE_LENGTH} characters. Fixed once the key exists.",
    )


class RevokeKeyForm(FlaskForm):
    """CSRF only."""
