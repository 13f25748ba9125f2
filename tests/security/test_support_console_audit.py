"""Staff in support mode opening the staff console's pages of the org they are in: the pages
answer (they answered 500: the console rebinds the request to the staff context, where the
support audit row could not be written) and each is still recorded in the org's audit log."""

from __future__ import annotations

from tests import factories
from tests.security.test_support_mode import staff_in_support


def test_console_pages_in_support_mode_answer_and_are_audited(app):
    org, _ = factories.org_with_members(owner="owner")
    staff = factories.UserFactory()
    factories.make_staff(staff)
    client = staff_in_support(app, staff, org)

    def recorded(path: str) -> int:
        return factories.execute(
            "SELECT count(*) FROM audit_events WHERE org_id = :o AND action = 'staff.request'"
            " AND target = :t", o=org.id, t=f"GET {path}").scalar()

    for path in (f"/admin/orgs/{org.id}", f"/admin/orgs/{org.id}/tier",
                 f"/admin/orgs/{org.id}/plan", f"/o/{org.slug}/members"):
        before = recorded(path)
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert recorded(path) == before + 1, path
