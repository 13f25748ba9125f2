"""SCIM filters -> SQL, for the equality filters IdPs send. No Flask.

``narrow`` turns the filters Okta and Entra ID actually send (``userName eq``, ``externalId
eq``, ``emails[type eq "work"].value eq``, ``displayName eq``, ``id eq``, also inside an
``and``) into one indexed SQL condition that selects a superset of the matches. The storage
then evaluates the whole filter on those candidates with scim2-models (``ScimFilter.match``),
so any valid filter gives exact results, and the common ones cost an index look-up. A filter
the SQL cannot narrow is evaluated on every user (or group) of the org.
"""

from __future__ import annotations

import uuid

from scim2_models.path.expressions import (
    CompareOperator,
    Comparison,
    LogicalExpr,
    LogicalOperator,
    ValuePath,
)
from sqlalchemy import func
from sqlalchemy.sql.elements import ColumnElement

from dashboard.models import ScimGroup, ScimUser

_CORE = (
    "urn:ietf:params:scim:schemas:core:2.0:user",
    "urn:ietf:params:scim:schemas:core:2.0:group",
)


def _name(attr_path) -> tuple[str, str | None] | None:
    uri = (attr_path.uri or "").lower()
    if uri and uri not in _CORE:
        return None
    return attr_path.attr.lower(), (attr_path.sub_attr or "").lower() or None


def narrow(node, model) -> ColumnElement | None:
    """An SQL condition true for every row ``node`` may match, or None (no narrowing)."""
    if isinstance(node, LogicalExpr) and node.op == LogicalOperator.and_:
        for term in node.terms:
            condition = narrow(term, model)
            if condition is not None:
                return condition
        return None
    if isinstance(node, ValuePath) and model is ScimUser:
        named = _name(node.attr_path)
        if named == ("emails", None) and node.sub_attr is None:
            value = _eq_value(node.val_filter, "value")
            if value is not None:
                return func.lower(ScimUser.email) == value.lower()
        return None
    if not isinstance(node, Comparison) or node.op != CompareOperator.eq:
        return None
    if not isinstance(node.value, str):
        return None
    named = _name(node.attr_path)
    if named is None:
        return None
    if named == ("id", None):
        try:
            return model.id == uuid.UUID(node.value)
        except ValueError:
            return model.id.is_(None)  # no row has an id that is not a UUID
    if named == ("externalid", None):
        return model.external_id == node.value
    if model is ScimUser:
        if named == ("username", None):
            return func.lower(ScimUser.user_name) == node.value.lower()
        if named == ("emails", "value"):
            return func.lower(ScimUser.email) == node.value.lower()
    if model is ScimGroup and named == ("displayname", None):
        return func.lower(ScimGroup.display_name) == node.value.lower()
    return None


def _eq_value(node, attr: str) -> str | None:
    """The string compared with ``eq`` to sub-attribute ``attr`` in a value filter."""
    if isinstance(node, LogicalExpr) and node.op == LogicalOperator.and_:
        for term in node.terms:
            value = _eq_value(term, attr)
            if value is not None:
                return value
        return None
    if (isinstance(node, Comparison) and node.op == CompareOperator.eq
            and isinstance(node.value, str) and node.attr_path.attr.lower() == attr
            and node.attr_path.sub_attr is None):
        return node.value
    return None
