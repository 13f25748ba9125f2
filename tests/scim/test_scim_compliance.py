"""scim2-tester (the python-scim project's RFC 7643/7644 checker) against the live app over
real HTTP, with an org's SCIM token. Every check must pass; skipped ones are listed with the
reason in SKIPPED_CHECKS (and in the README)."""

from __future__ import annotations

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from tests.scim.conftest import live_hmac_key, scim_org

PASSING = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}
# check title -> why it does not run against Tenantdesk (none expected beyond these).
SKIPPED_CHECKS: dict[str, str] = {
    "search_with_attributes": "POST /.search at the root (Users and Groups in one search) "
    "answers 501 Not Implemented; POST /Users/.search and /Groups/.search work",
}


def test_scim2_tester_passes_every_check(live_server):
    _, _, _, token, _ = scim_org(hmac_key=live_hmac_key(live_server))
    http = httpx2.Client(base_url=live_server("/scim/v2"),
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)
    with http:
        results = check_server(SyncSCIMClient(http))
    failed = [f"{r.status.name} {r.resource_type or ''} {r.title}: {r.reason}"
              for r in results if r.status not in PASSING | {Status.SKIPPED}]
    skipped = sorted({r.title for r in results if r.status == Status.SKIPPED})
    assert not failed, "\n".join(failed)
    assert set(skipped) == set(SKIPPED_CHECKS), skipped
    assert len([r for r in results if r.status in PASSING]) > 20
