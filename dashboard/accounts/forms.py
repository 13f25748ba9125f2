"""Account forms (Flask-WTF: validation and CSRF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, NumberRange, Optional

from dashboard.accounts.policy import JOIN_ROLES
from dashboard.auth.passwords import MAX_LENGTH

_EMAIL = [DataRequired(), Email(check_deliverability=False), Length(max=254)]


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=_EMAIL)


class NewPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(max=MAX_LENGTH)],
                             description="At least 10 characters; a few unusual words work well.")
    confirm = PasswordField("Repeat the new password", validators=[
        DataRequired(), EqualTo("password", message="The two passwords differ.")])


class SignupForm(FlaskForm):
    name = StringField("Your name", validators=[DataRequired(), Length(max=100)])
    email = EmailField("Work email", validators=_EMAIL)
    password = PasswordField("Password", validators=[DataRequired(), Length(max=MAX_LENGTH)],
                             description="At least 10 characters; a few unusual words work well.")


class ConfirmForm(FlaskForm):
    """A button (a GET never spends a link: mail scanners open links)."""


class NameForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=100)])


class EmailChangeForm(FlaskForm):
    new_email = EmailField("New email", validators=_EMAIL)
    email_password = PasswordField("Current password",
                                   validators=[Optional(), Length(max=MAX_LENGTH)])


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField("Current password",
                                     validators=[Optional(), Length(max=MAX_LENGTH)])
    new_password = PasswordField(
        "New password", validators=[DataRequired(), Length(max=MAX_LENGTH)],
        description="At least 10 characters; a few unusual words work well.")
    confirm_password = PasswordField("Repeat the new password", validators=[
        DataRequired(), EqualTo("new_password", message="The two passwords differ.")])


class CodeForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired(), Length(max=40)],
                       description="6 digits from your authenticator app, or a recovery code.")


class ReauthForm(FlaskForm):
    password = PasswordField("Password", validators=[Optional(), Length(max=MAX_LENGTH)])
    code = StringField("Or a code from your authenticator app",
                       validators=[Optional(), Length(max=40)])


class PasskeyNameForm(FlaskForm):
    name = StringField("Passkey name", validators=[Optional(), Length(max=60)])


class OrgSecurityForm(FlaskForm):
    require_mfa = BooleanField("Require two-factor authentication for every member")
    mfa_on_sso = BooleanField("Also after single sign-on (otherwise the IdP's sign-in counts)")
    max_session_hours = IntegerField(
        "Maximum session length (hours)", validators=[Optional(), NumberRange(1, 24 * 90)],
        description="Empty: the installation's limit.")
    idle_minutes = IntegerField(
        "Sign out after inactivity (minutes)",
        validators=[Optional(), NumberRange(5, 60 * 24 * 30)],
        description="Empty: the installation's limit.")
    domain_join = BooleanField("People with an address at a verified domain may join")
    domain_join_role = SelectField("They join as", choices=[(r, r.title()) for r in JOIN_ROLES],
                                   default="member")
