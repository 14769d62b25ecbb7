"""Finding the browser and its driver: clear refusals that say what to install (no browser started)."""

from __future__ import annotations

import sys

import pytest

from callprobe.browser.host import BrowserUnavailable, find_executable, playwright_api
from callprobe.engine.runner import run_scenario
from callprobe.scenario.loader import load_scenario_text


def test_without_playwright_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "playwright.async_api", None)
    with pytest.raises(BrowserUnavailable) as info:
        playwright_api()
    assert "pip install 'callprobe[browser]'" in info.value.hint


def test_a_browser_that_is_not_there() -> None:
    with pytest.raises(BrowserUnavailable, match="not an executable file"):
        find_executable("/nonexistent/chromium")
    with pytest.raises(BrowserUnavailable, match="no nosuchbrowser executable on PATH"):
        find_executable("nosuchbrowser")


async def test_a_run_with_a_missing_browser_stops_with_that_error() -> None:
    scenario = load_scenario_text("name: t\nagents:\n  carol: {browser: /nonexistent/chromium}\n"
                                  "steps:\n  - connect: carol\n", file="t.yaml")
    with pytest.raises(BrowserUnavailable, match="not an executable file"):
        await run_scenario(scenario)
