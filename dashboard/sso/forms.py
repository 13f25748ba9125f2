"""SSO settings forms (Flask-WTF: validation and CSRF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class SamlMetadataForm(FlaskForm):
    metadata_xml = TextAreaField("IdP metadata XML", validators=[Optional(),
                                                                  Length(max=1024 * 1024)])
    metadata_file = FileField("…or upload the metadata file")


class SamlUrlForm(FlaskForm):
    metadata_url = StringField(
        "IdP metadata URL", validators=[DataRequired(), Length(max=1000)],
        description="Fetched once, now: https only, at most 1 MiB, no redirects.",
    )


class SamlManualForm(FlaskForm):
    entity_id = StringField("IdP entity ID (issuer)", validators=[DataRequired(),
                                                                  Length(max=1000)])
    sso_url = StringField("IdP sign-in URL (HTTP-Redirect binding)",
                          validators=[DataRequired(), Length(max=1000)])
    certificate = TextAreaField("IdP signing certificate (PEM)",
                                validators=[DataRequired(), Length(max=20000)])


class OidcForm(FlaskForm):
    issuer = StringField("Issuer URL", validators=[DataRequired(), Length(max=1000)],
                         description="Its /.well-known/openid-configuration must name "
                                     "exactly this issuer.")
    client_id = StringField("Client ID", validators=[DataRequired(), Length(max=255)])
    client_secret = PasswordField("Client secret", validators=[Optional(), Length(max=1000)],
                                  description="Stored encrypted. Leave empty to keep the "
                                              "current one.")
    scopes = StringField("Scopes", default="openid email profile",
                         validators=[Optional(), Length(max=500)])


class OptionsForm(FlaskForm):
    default_role = SelectField("Role for new members", validators=[DataRequired()])
    email_attribute = StringField("Email attribute or claim", validators=[Length(max=200)],
                                  description="Empty: the usual names (email, mail, …).")
    name_attribute = StringField("Name attribute or claim", validators=[Length(max=200)])
    groups_attribute = StringField("Groups attribute or claim", validators=[Length(max=200)])
    group_roles = TextAreaField(
        "Groups → roles", validators=[Length(max=20000)],
        description="One 'group = role' per line. When set, the IdP's groups decide the role "
                    "at every sign-in (owners are never changed).",
    )
    allow_idp_initiated = BooleanField("Allow IdP-initiated sign-in (less safe: no request "
                                       "to match the response to)")
    require_sso = BooleanField("Require SSO: members cannot sign in to this organization "
                               "with a password")
    owner_break_glass = BooleanField("Owners keep a break-glass password sign-in (audited)")
    identify_by = SelectField(
        "Identify returning people by",
        choices=[
            ("auto", "Their IdP identifier, else their email at a verified domain"),
            ("name_id", "Their IdP identifier only (persistent NameID or OIDC subject)"),
        ],
        default="auto",
        description="IdPs that send a new (transient) NameID at each sign-in need an email "
                    "match; the email is only trusted at this organization's verified "
                    "domains, and only for people who have no password here.",
    )
    want_encrypted_assertions = BooleanField(
        "Require encrypted assertions (SAML; give the IdP our certificate from the metadata)")


class DomainForm(FlaskForm):
    domain = StringField("Domain", validators=[DataRequired(), Length(max=253)],
                         description="e.g. example.com")


class ActionForm(FlaskForm):
    """Buttons that only need CSRF (test, verify, remove)."""


class LinkForm(FlaskForm):
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)])
