"""Sign-in and switcher forms (Flask-WTF: validation and CSRF)."""

from __future__ import annotations

from flask import current_app, g
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

    class Meta:
        @property
        def csrf(self) -> bool:
            # CSRFProtect (dashboard/security.py) checked this POST's token before the view
            # (``csrf_valid``), and the form's own check would then pass at once: its field
            # would only sign a fresh token that nothing reads (issue 20: ~5 % of the org
            # switch). Where CSRFProtect did not check, the form does, as stock.
            return current_app.config.get("WTF_CSRF_ENABLED", True) \
                and not g.get("csrf_valid", False)


class LogoutForm(FlaskForm):
    pass
