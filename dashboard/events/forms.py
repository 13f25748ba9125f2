from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, SelectMultipleField, StringField, widgets
from wtforms.validators import Length

from dashboard.events.catalogue import ALL_TYPES
from dashboard.events.endpoints import STREAM_KINDS


class WebhookForm(FlaskForm):
    url = StringField("Endpoint URL", description="https:// URL that receives POST requests.")
    description = StringField("Description (optional)", validators=[Length(max=200)])
    event_types = SelectMultipleField(
        "Events",
        choices=[(t, t) for t in ALL_TYPES],
        option_widget=widgets.CheckboxInput(),
        widget=widgets.ListWidget(prefix_label=False),
        validate_choice=False,  # the service names an unknown type in its message
    )


class StreamForm(FlaskForm):
    kind = SelectField("Format", choices=list(STREAM_KINDS.items()))
    url = StringField("Destination URL",
                      description="For Splunk: https://<host>:8088/services/collector/event")
    description = StringField("Description (optional)", validators=[Length(max=200)])
    token = PasswordField("Token", description="Splunk HEC token, or a bearer token (optional"
                          " for HTTPS JSON). Stored encrypted; leave empty to keep it.")


class ActionForm(FlaskForm):
    """CSRF only."""
