"""Browser tests need Chromium and Playwright; CI installs both (``.ci/run``)."""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from callprobe.browser.host import EXECUTABLES

HAVE_CHROMIUM = any(shutil.which(name) for name in EXECUTABLES["chromium"])
HAVE_PLAYWRIGHT = importlib.util.find_spec("playwright") is not None



@pytest.fixture
def browser_installed() -> None:
    """Fail, saying what to install, where Chromium or Playwright is missing: a test that cannot run proves nothing."""
    if not (HAVE_CHROMIUM and HAVE_PLAYWRIGHT):
        pytest.fail("needs Chromium on PATH (apt-get install chromium) and the browser extra "
                    "(pip install -e '.[browser]'); .ci/run installs both", pytrace=False)


needs_browser = pytest.mark.usefixtures("browser_installed")
