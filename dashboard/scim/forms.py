from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

OVERLAP_CHOICES = [
    ("24h", "24 hours"),
    ("1h", "1 hour"),
    ("7d", "7 days"),
    ("0", "No overlap: the old token stops now"),
]


class CreateTokenForm(FlaskForm):
    name = StringField(
        "Token name", validators=[DataRequired(), Length(max=100)],
        description="Say which IdP uses it, e.g. “Okta production”.",
    )


class RotateTokenForm(FlaskForm):
    overlap = SelectField("Old token keeps working for", choices=OVERLAP_CHOICES, default="24h")


class GroupRoleForm(FlaskForm):
    role = SelectField("Role", choices=[], validate_choice=False)


class CsrfForm(FlaskForm):
    """CSRF only."""
