from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length


class ReasonForm(FlaskForm):
    reason = TextAreaField(
        "Reason (recorded in the organization's audit log)",
        validators=[DataRequired(), Length(min=10, max=500)],
    )


class ExitSupportForm(FlaskForm):
    pass
