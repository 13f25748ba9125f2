"""Sign-in and switcher forms (Flask-WTF: validation and CSRF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField
from wtforms.validators import DataRequired, Email, Length, Optional


class LoginForm(FlaskForm):
    """Email first: without a password the email alone picks SSO or the password step."""

    email = EmailField(
        "Email", validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)]
    )
    password = PasswordField("Password", validators=[Optional(), Length(max=256)])
    step = HiddenField(validators=[Optional(), Length(max=20)])


class SwitchOrgForm(FlaskForm):
    slug = HiddenField(validators=[DataRequired(), Length(max=40)])
    next = HiddenField(validators=[Length(max=2000)])


class LogoutForm(FlaskForm):
    pass
