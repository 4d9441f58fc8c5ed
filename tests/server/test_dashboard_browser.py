"""Headless Chromium watches a run started over the API progress live to DONE_SUCCESS.

Screenshots are kept under test-artifacts/ (or $AUTOPACK_TEST_ARTIFACTS) for people to look at.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autopack.demo.developer import demo_reply
from autopack.testing.api_server import Api, start_api
from autopack.testing.fake_llm import Reply

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(
    os.environ.get(
        "AUTOPACK_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"
    )
)


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("AUTOPACK_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is required here but not installed (apt-get install chromium)")
        pytest.skip("browser test skipped: chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def test_a_run_is_watched_live_in_the_browser_to_done_success(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first model call waits until the page is open, so the page sees the run progress.
    page_open = threading.Event()

    def after_page_opens(api: str, request: dict[str, Any]) -> Reply:
        page_open.wait(60)
        return demo_reply(api, request)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    api: Api
    for api in start_api(tmp_path, None, monkeypatch, script=after_page_opens):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{api.base_url}/ui/login")
        page.fill("#token", api.read_token)
        page.click("button[type=submit]")
        page.wait_for_url(f"{api.base_url}/ui/")
        page.screenshot(path=str(ARTIFACTS / "01-runs-empty.png"), full_page=True)

        with api.client() as client:
            run_id = client.post("/runs", json={"plan": "comprehensive_plan.md"}).json()["run_id"]
        # The run list learns of the new run from the event stream, without a reload.
        page.wait_for_selector(f'a[href="/ui/runs/{run_id}"]', timeout=30_000)

        page.goto(f"{api.base_url}/ui/runs/{run_id}")
        assert "DONE_SUCCESS" not in page.inner_text("#run-state")
        page.screenshot(path=str(ARTIFACTS / "02-run-started.png"), full_page=True)
        page_open.set()

        # Locators, not wait_for_function: its polling evaluates a string, which the dashboard's
        # Content-Security-Policy (no 'unsafe-eval') refuses, as it should.
        page.locator("#progress", has_text="run ended DONE_SUCCESS").wait_for(timeout=120_000)
        assert "DONE_SUCCESS" in page.inner_text("#run-state")
        progress = page.inner_text("#progress")
        assert "committed" in progress
        assert "run ended DONE_SUCCESS" in progress
        # The diffs and the cost chart came in live too, without a reload.
        page.locator("#commits details").nth(3).wait_for()
        assert page.locator("#commits details").count() == 4
        cost = page.inner_text("#cost")
        assert "builder" in cost
        assert "auditor" in cost
        page.screenshot(path=str(ARTIFACTS / "03-run-done.png"), full_page=True)
        for name, path, needle in (
            ("04-runs", "/ui/", run_id),
            ("05-backlog", "/ui/backlog", "Issue backlog"),
            ("06-budget", "/ui/budget", "Where the money went"),
        ):
            page.goto(f"{api.base_url}{path}")
            assert needle in page.content()
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    for name in ("01-runs-empty", "02-run-started", "03-run-done", "04-runs", "05-backlog"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 5_000
