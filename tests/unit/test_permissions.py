"""The role -> permission table, checked as data."""

from dashboard.permissions import ALL_PERMISSIONS, BUILTIN_ROLES, Permission, permissions_for


def test_builtin_role_table():
    assert permissions_for("owner") == ALL_PERMISSIONS
    assert permissions_for("admin") == ALL_PERMISSIONS - {Permission.ORG_DELETE}
    assert permissions_for("member") == {"org.view", "members.view", "usage.view"}
    assert permissions_for("guest") == {"org.view"}


def test_ranks_are_strictly_ordered():
    ranks = [BUILTIN_ROLES[r]["rank"] for r in ("guest", "member", "admin", "owner")]
    assert ranks == sorted(set(ranks))


def test_each_role_holds_what_the_role_below_holds():
    order = ["guest", "member", "admin", "owner"]
    for lower, higher in zip(order, order[1:], strict=False):
        assert permissions_for(lower) <= permissions_for(higher)


def test_custom_roles_keep_only_known_permissions():
    assert permissions_for("auditor", ["audit.view", "root.everything"]) == {"audit.view"}
