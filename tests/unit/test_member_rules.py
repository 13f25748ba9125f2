"""Who may grant or touch which role, as a table (dashboard/members/roles.py)."""

from __future__ import annotations

import uuid

import pytest

from dashboard.members.roles import Editor, RoleInfo, builtin_roles, may_grant
from dashboard.permissions import ALL_PERMISSIONS, permissions_for

BUILTIN = {r.key: r for r in builtin_roles()}
AUDITOR = RoleInfo("auditor", "Auditor", frozenset({"org.view", "audit.view"}), False)
ALMIGHTY = RoleInfo("almighty", "Almighty", frozenset(ALL_PERMISSIONS), False)


def editor(role: str, permissions=None) -> Editor:
    return Editor(uuid.uuid4(), role, frozenset(permissions or permissions_for(role)))


@pytest.mark.parametrize(
    ("who", "target", "allowed"),
    [
        ("owner", "owner", True), ("owner", "admin", True), ("owner", "guest", True),
        ("owner", "auditor", True), ("owner", "almighty", True),
        ("admin", "owner", False), ("admin", "admin", True), ("admin", "member", True),
        ("admin", "auditor", True), ("admin", "almighty", False),
        ("member", "member", True), ("member", "guest", True), ("member", "admin", False),
        ("member", "auditor", False),
        ("guest", "guest", True), ("guest", "member", False),
    ],
)
def test_grant_table(who, target, allowed):
    role = BUILTIN.get(target) or {"auditor": AUDITOR, "almighty": ALMIGHTY}[target]
    assert may_grant(editor(who), role) is allowed


def test_a_custom_role_holding_everything_is_still_not_an_owner():
    assert not may_grant(editor("almighty", ALL_PERMISSIONS), BUILTIN["owner"])
    assert may_grant(editor("almighty", ALL_PERMISSIONS), BUILTIN["admin"])
