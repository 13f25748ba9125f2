"""Forms for members, invitations and roles (Flask-WTF: validation and CSRF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from dashboard.auth.passwords import MAX_LENGTH as PASSWORD_MAX
from dashboard.auth.passwords import MIN_LENGTH as PASSWORD_MIN
from dashboard.members.invitations import MESSAGE_MAX, NAME_MAX


def role_choices(roles) -> list[tuple[str, str]]:
    return [(r.key, r.name) for r in roles]


class InviteForm(FlaskForm):
    emails = TextAreaField(
        "Email addresses",
        validators=[DataRequired(message="Enter at least one email address."),
                    Length(max=100_000)],
        description="Separate addresses with commas or new lines (up to 50 at a time).",
    )
    role = SelectField("Role", validate_choice=True)
    message = TextAreaField(
        "Personal message (optional)", validators=[Optional(), Length(max=MESSAGE_MAX)]
    )


class RoleChangeForm(FlaskForm):
    role = SelectField("Role", validate_choice=True)


class TransferForm(FlaskForm):
    new_owner = SelectField("New owner", validate_choice=True,
                            validators=[DataRequired(message="Choose who takes over.")])
    then = RadioField("Then", default="stay", validate_choice=True,
                      choices=[("stay", "Stay in the organization as an admin"),
                               ("leave", "Leave the organization")])


class ConfirmForm(FlaskForm):
    """A bare form: the CSRF token is the whole point."""


class AcceptNewAccountForm(FlaskForm):
    name = StringField("Your name", validators=[DataRequired(), Length(max=NAME_MAX)])
    password = PasswordField(
        "Choose a password",
        validators=[DataRequired(), Length(min=PASSWORD_MIN, max=PASSWORD_MAX)],
        description=f"At least {PASSWORD_MIN} characters.",
    )
    confirm = PasswordField(
        "Repeat the password",
        validators=[DataRequired(), EqualTo("password", message="The passwords differ.")],
    )


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class CustomRoleForm(FlaskForm):
    name = StringField("Role name", validators=[DataRequired(), Length(max=60)])
    permissions = MultiCheckboxField("Permissions", validate_choice=True)
