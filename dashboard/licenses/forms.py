"""The "Request upgrade" form (Flask-WTF: validation and CSRF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from dashboard.licenses.upgrades import NOTE_MAX


class UpgradeRequestForm(FlaskForm):
    feature = HiddenField(validators=[DataRequired()])
    note = TextAreaField("Why you need it (optional)",
                         validators=[Optional(), Length(max=NOTE_MAX)])
