"""Branding and custom domain forms (Flask-WTF: validation and CSRF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length, Optional


class BrandingForm(FlaskForm):
    display_name = StringField("Display name", validators=[Optional(), Length(max=100)],
                               description="Shown instead of the organization's name on its "
                                           "sign-in page, the top bar and its mails.")
    primary_color = StringField("Primary colour", validators=[Optional(), Length(max=7)],
                                description="#rrggbb; white text on it must meet WCAG AA "
                                            "(contrast 4.5:1).")
    support_contact = StringField("Support contact", validators=[Optional(), Length(max=200)],
                                  description="An email address or an https:// link.")
    logo = FileField("Logo", description="PNG or JPEG, at most 256 KB and 1024×1024 pixels. "
                                         "We re-encode it as PNG.")
    remove_logo = BooleanField("Remove the logo")
    white_label = BooleanField("White label: our name only, no product name on our pages "
                                                "and mails")


class DomainForm(FlaskForm):
    domain = StringField("Domain", validators=[DataRequired(), Length(max=253)],
                         description="A host name of yours, e.g. login.example.com.")


class ActionForm(FlaskForm):
    """Buttons that only need CSRF (verify, remove)."""
