from __future__ import annotations

from datetime import UTC

from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, IntegerField, RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from dashboard.licenses.features import Feature

REASON_HINT = "Recorded in the organization's audit log, which its admins can read."


def utc(value):
    """<input type=datetime-local> has no zone; the form says UTC, so attach it."""
    return value.replace(tzinfo=UTC) if value else None


def naive_utc(value):
    """The other way, to prefill such an input."""
    return value.astimezone(UTC).replace(tzinfo=None) if value else None


class ChangePlanForm(FlaskForm):
    plan = SelectField("Plan", validators=[DataRequired()])
    seats = IntegerField(
        "Seats (empty: the plan's)", validators=[Optional(), NumberRange(1, 1_000_000)]
    )
    rate_limit_per_minute = IntegerField(
        "API requests per minute (empty: the plan's)",
        validators=[Optional(), NumberRange(1, 1_000_000)],
    )
    valid_from = DateTimeLocalField("License starts (UTC, empty: now)", validators=[Optional()])
    valid_until = DateTimeLocalField(
        "License ends (UTC, empty: no end)", validators=[Optional()]
    )
    # The three forms share one page: distinct ids keep each <label for> on its own field.
    reason = TextAreaField(
        "Reason", validators=[DataRequired(), Length(3, 500)], description=REASON_HINT,
        id="plan-reason",
    )


class OverrideForm(FlaskForm):
    feature = SelectField(
        "Feature", choices=[(f.value, f.value) for f in Feature], id="override-feature"
    )
    state = RadioField("Set to", choices=[("on", "On"), ("off", "Off")], default="on")
    expires_at = DateTimeLocalField("Until (UTC, empty: until cleared)", validators=[Optional()])
    reason = TextAreaField(
        "Reason", validators=[DataRequired(), Length(3, 500)], description=REASON_HINT,
        id="override-reason",
    )


class ClearOverrideForm(FlaskForm):
    feature = SelectField(
        "Feature", choices=[(f.value, f.value) for f in Feature], id="clear-feature"
    )
    reason = TextAreaField(
        "Reason", validators=[DataRequired(), Length(3, 500)], description=REASON_HINT,
        id="clear-reason",
    )
