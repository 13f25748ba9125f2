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


# ---------------------------------------------------------------------------- member metadata

METADATA_BLANK_ROWS = 3  # empty rows offered for new keys (save, then edit again for more)
METADATA_MAX_ROWS = 64  # rows a crafted form may post before it is refused outright


class MetadataRowsError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def metadata_rows(values: dict[str, str], max_keys: int) -> list[tuple[str, str]]:
    """The rows the edit form shows: the current pairs by key, then a few empty ones."""
    rows = sorted(values.items())
    return rows + [("", "")] * max(0, min(METADATA_BLANK_ROWS, max_keys - len(rows)))


def posted_metadata_rows(form) -> list[tuple[str, str]]:
    """The ``key-N`` / ``value-N`` rows as posted (keys lose surrounding spaces; values are
    kept verbatim, as the API keeps them)."""
    indices = set()
    for name in form:
        prefix, _, number = name.partition("-")
        if prefix in ("key", "value") and number.isdigit():
            indices.add(int(number))
    if any(i >= METADATA_MAX_ROWS for i in indices):
        raise MetadataRowsError(f"Send at most {METADATA_MAX_ROWS} rows.")
    return [(form.get(f"key-{i}", "").strip(), form.get(f"value-{i}", ""))
            for i in sorted(indices)]


def metadata_from_rows(rows: list[tuple[str, str]]) -> dict[str, str]:
    """The map the rows make. Only their shape is checked here (a value needs a key, a key
    once); the metadata rules (dashboard/metadata/rules.py, the API's) judge the map."""
    values: dict[str, str] = {}
    for number, (key, value) in enumerate(rows, start=1):
        if not key:
            if value:
                raise MetadataRowsError(f"Row {number} has a value but no key.")
            continue
        if key in values:
            raise MetadataRowsError(f"The key \u201c{key[:50]}\u201d appears twice.")
        values[key] = value
    return values
