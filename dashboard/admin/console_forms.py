from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField, ValidationError
from wtforms.validators import DataRequired, Length, Optional

WRITE_REASON_MIN = 10


class ReasonForm(FlaskForm):
    reason = TextAreaField(
        "Reason (recorded in the organization's audit log)",
        validators=[DataRequired(), Length(min=10, max=500)],
    )


class SupportForm(ReasonForm):
    """Entering support mode: read-only unless write access is chosen, with its own reason."""

    access = RadioField(
        "Access",
        choices=[
            ("read", "Read-only: look, change nothing"),
            ("write", "Read and change (members, usage); never API keys, invitations, roles"
                      " or SSO"),
        ],
        default="read",
        validate_choice=False,  # anything but "write" is read-only
    )
    write_reason = TextAreaField(
        "Why you need to change things (recorded in the audit log)",
        validators=[Optional(), Length(max=500)],
    )

    @property
    def writes(self) -> bool:
        return self.access.data == "write"

    def validate_write_reason(self, field) -> None:
        if self.writes and len((field.data or "").strip()) < WRITE_REASON_MIN:
            raise ValidationError(
                "State why you need to change things (at least 10 characters)."
            )


class ExitSupportForm(FlaskForm):
    pass
