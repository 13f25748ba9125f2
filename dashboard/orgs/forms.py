from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional


class CreateOrgForm(FlaskForm):
    name = StringField("Organization name", validators=[DataRequired(), Length(max=100)])
    slug = StringField(
        "Address (optional)",
        validators=[Optional(), Length(max=40)],
        description="Lowercase letters, digits and hyphens; used in URLs as /o/<address>/.",
    )
