"""Fixtures more than one module of tests/security uses."""

from __future__ import annotations

import pytest

from tests import factories


@pytest.fixture
def two_org_user():
    """A user who owns A and is a member of B; signing in lands in A. (me, A, B)."""
    org_a, people = factories.org_with_members(me="owner", ann="member")
    org_b = factories.OrgFactory()
    factories.MembershipFactory(org_id=org_b.id, user_id=people["me"].id, role="member")
    factories.execute(
        "UPDATE users SET last_org_id = :o WHERE id = :u", o=org_a.id, u=people["me"].id
    )  # sign-in lands in A
    return people["me"], org_a, org_b
