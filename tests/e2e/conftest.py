"""Browser fixtures: Debian's chromium driven by Playwright against ``live_server``.

- ``browser``: one headless chromium for the session (never ``playwright install``).
- ``new_context()``: a fresh, isolated browser context (its own cookies), closed after the test.
- ``page``: a page in a fresh context, ``base_url`` = the live server, so ``page.goto("/login")``.
When a test fails, every page it opened is saved as a screenshot (and its HTML) under
``test-results/<test name>/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dashboard.config import PROJECT_ROOT

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_HINT = (
    "/usr/bin/chromium is missing, so the browser tests are skipped. Install Debian's chromium "
    "(`sudo apt-get install chromium`, or run scripts/ensure-chromium.sh as root); "
    "never `playwright install`."
)
# Playwright's launch() already gives each browser a fresh temporary user-data dir.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RESULTS = PROJECT_ROOT / "test-results"
TIMEOUT_MS = 10_000


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def _failed(request) -> bool:
    return any(
        getattr(getattr(request.node, f"report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )


def output_dir(request) -> Path:
    """test-results/<test name>/ for this test (created on demand)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])
    folder = RESULTS / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def _playwright():
    if not CHROMIUM.exists():
        pytest.skip(INSTALL_HINT)
    from playwright.sync_api import sync_playwright

    manager = sync_playwright()
    playwright = manager.start()
    yield playwright
    playwright.stop()


@pytest.fixture(scope="session")
def browser(_playwright):
    browser = _playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def new_context(browser, live_server, request):
    """Factory of fresh browser contexts; screenshots every page of them if the test fails."""
    contexts = []

    def make(**options):
        options.setdefault("base_url", live_server.url)
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    if _failed(request):
        folder = output_dir(request)
        for c, context in enumerate(contexts):
            for p, page in enumerate(context.pages):
                stem = folder / f"context{c}-page{p}"
                try:
                    page.screenshot(path=f"{stem}.png", full_page=True)
                    Path(f"{stem}.html").write_text(f"<!-- {page.url} -->\n{page.content()}")
                except Exception as exc:  # a broken page must not hide the real failure
                    Path(f"{stem}.txt").write_text(f"could not capture {page.url}: {exc}")
    for context in contexts:
        context.close()


@pytest.fixture
def context(new_context):
    return new_context()


@pytest.fixture
def page(context):
    return context.new_page()


def pytest_collection_modifyitems(config, items):
    # Everything under tests/e2e is a browser test: `pytest -m e2e` / `-m "not e2e"` select it.
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.e2e)
