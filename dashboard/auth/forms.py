"""Sign-in and switcher forms (Flask-WTF: validation and CSRF)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g
from flask_wtf import FlaskForm
from flask_wtf.csrf import validate_csrf
from wtforms import EmailField, HiddenField, PasswordField, ValidationError
from wtforms.validators import DataRequired, Email, Length, Optional


class LoginForm(FlaskForm):
    """Email first: without a password the email alone picks SSO or the password step."""

    email = EmailField(
        "Email", validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)]
    )
    password = PasswordField("Password", validators=[Optional(), Length(max=256)])
    step = HiddenField(validators=[Optional(), Length(max=20)])


@dataclass(frozen=True)
class SwitchChoice:
    """POST /switch's two hidden fields: the org to switch to, the page to land on."""

    slug: str
    next: str


def switch_choice(fields) -> SwitchChoice | None:
    """The switch's fields (``request.form``), checked as the FlaskForm this replaces checked
    them (slug required, at most 40 characters; next at most 2,000), or None.

    Not a FlaskForm: building and validating one was ~6 % of the switch's CPU (issue 20).
    CSRFProtect (dashboard/security.py) checked this POST's token before the view; where it
    did not (``csrf_valid`` unset), the token is checked here, as the form's own field did.
    """
    if current_app.config.get("WTF_CSRF_ENABLED", True) and not g.get("csrf_valid", False):
        try:
            validate_csrf(fields.get("csrf_token"))
        except ValidationError:
            return None
    slug = fields.get("slug") or ""
    landing = fields.get("next") or ""
    if not slug.strip() or len(slug) > 40 or len(landing) > 2000:
        return None
    return SwitchChoice(slug, landing)


class LogoutForm(FlaskForm):
    pass
