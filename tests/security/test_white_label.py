"""White label (the top plan): no "Tenantdesk" on any of the org's pages, on its own host and
on the installation's; without the option, the product's name is where it was."""

from __future__ import annotations

import re

import pytest

from tests import factories
from tests.helpers import login
from tests.pages import main_page_paths
from tests.support.hosts import OnHost, host_of, org_hosts

_TAGS = re.compile(r"<[^>]+>")


# The installation's one SAML SP certificate is shown as it is (an IdP displays its subject
# anyway): it names the installation, not the org's brand.
_ALLOWED = ("CN=Tenantdesk SAML SP",)


def _visible(html: str) -> str:
    text = _TAGS.sub(" ", html)
    for allowed in _ALLOWED:
        text = text.replace(allowed, "")
    return text


@pytest.fixture
def white_label_org(app):
    org, people = factories.org_with_members(owner="owner", member="member")
    factories.put_on_plan(org, "enterprise")
    factories.branding(org, display_name="Initrode", white_label=True)
    # A hand-made exception shows who made it ("by Tenantdesk" without white label).
    factories.FeatureOverrideFactory(org_id=org.id, feature="custom-roles", enabled=True)
    return org, people["owner"]


def _org_pages(app, org) -> list[str]:
    return [p for p in main_page_paths(app, org.slug, org.id) if p.startswith(f"/o/{org.slug}/")]


def test_no_tenantdesk_on_a_white_labelled_orgs_pages(app, white_label_org):
    org, owner = white_label_org
    with org_hosts(app):
        host = OnHost(app.test_client(), host_of(org))
        anonymous = [p for p in ("/login", "/forgot-password")]
        found = [p for p in anonymous if "Tenantdesk" in _visible(host.get(p).get_data(
            as_text=True))]
        host.login(owner)
        for path in _org_pages(app, org):
            response = host.get(path)
            assert response.status_code == 200, path
            if "Tenantdesk" in _visible(response.get_data(as_text=True)):
                found.append(path)
    installation = app.test_client()
    login(installation, owner)
    found += [f"{p} (installation host)" for p in _org_pages(app, org)[:3]
              if "Tenantdesk" in _visible(installation.get(p).get_data(as_text=True))]
    assert not found, f"'Tenantdesk' shown on: {found}"


def test_without_white_label_the_product_name_stays(app):
    org, people = factories.org_with_members(owner="owner")
    factories.put_on_plan(org, "growth")
    factories.branding(org, display_name="Initrode", white_label=True)  # not in the plan
    client = app.test_client()
    login(client, people["owner"])
    assert "Tenantdesk" in client.get(f"/o/{org.slug}/").get_data(as_text=True)
