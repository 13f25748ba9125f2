"""The one redirect-target check (dashboard/redirects.py), with the payloads browsers turn
into another site: every one refused, every ordinary local path kept."""

import pytest

from dashboard.redirects import safe_next

REFUSED = [
    None, "", "https://evil.example/", "http://evil.example", "//evil.example/x",
    "///evil.example", "/\t/evil.example/x", "/\n/evil.example", "/\r\n/evil.example",
    "\t//evil.example", "/\\evil.example", "\\\\evil.example", "/\\/evil.example",
    "/%2F%2Fevil.example", "/%2f/evil.example", "%2F%2Fevil.example", "/%5Cevil.example",
    "/%5C%5Cevil.example", "/%252F%252Fevil.example", "/%25252F%25252Fevil.example",
    "/%09/evil.example", "/%0d%0a/evil.example", "javascript:alert(1)", "evil.example",
    "/x\x00y", "/x\x7fy", "/ space", "/" + "a" * 2000,
]
KEPT = [
    "/", "/o/acme/", "/o/acme/members?q=ada%20lovelace&role=admin",
    "/o/acme/usage?range=30#chart", "/o/acme/audit?actor=a%40b.example", "/account/sessions",
]


@pytest.mark.parametrize("value", REFUSED)
def test_a_target_that_can_leave_the_site_is_refused(value):
    assert safe_next(value) is None


@pytest.mark.parametrize("value", KEPT)
def test_a_local_path_is_kept_as_given(value):
    assert safe_next(value) == value


def test_no_module_keeps_a_redirect_check_of_its_own():
    """One check for the whole app: no other module defines its own `_safe_next`."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "dashboard"
    own = [p for p in root.rglob("*.py") if "def _safe_next" in p.read_text()
           or "def safe_next" in p.read_text() and p.name != "redirects.py"]
    assert own == []
