"""The /api/v1 blueprint. Each resource module adds its operations to ``bp``."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Imported for their @operation side effects, in the order the docs list them.
from dashboard.api.routes import (  # noqa: E402, F401
    apikeys,
    audit,
    docs,
    features,
    members,
    org,
    usage,
    webhooks,
)
