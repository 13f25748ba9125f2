from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length


class ScheduleDeletionForm(FlaskForm):
    confirm_slug = StringField(
        "Type the organization's address to confirm",
        validators=[DataRequired(), Length(max=40)],
    )


class CancelDeletionForm(FlaskForm):
    pass


class StaffAccessForm(FlaskForm):
    allowed = BooleanField("Allow Tenantdesk staff to enter this organization for support")
