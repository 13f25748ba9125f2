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


@pytest.fixture(scope="module")
def idp():
    """A SAML identity provider of the module's own (tests/support/saml_idp.py)."""
    from tests.support.saml_idp import TestIdP

    return TestIdP()


@pytest.fixture
def setup(idp):
    """An org that signs in through ``idp`` (tests/support/sso.py's saml_org). Modules with
    a ``setup`` of their own (OIDC, SAML keys) override it."""
    from tests.support.sso import saml_org

    return saml_org(idp)
