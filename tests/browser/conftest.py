"""Browser tests need Chromium and Playwright; CI installs both (``.ci/run``)."""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from callprobe.browser.host import EXECUTABLES

HAVE_CHROMIUM = any(shutil.which(name) for name in EXECUTABLES["chromium"])
HAVE_PLAYWRIGHT = importlib.util.find_spec("playwright") is not None

needs_browser = pytest.mark.skipif(
    not (HAVE_CHROMIUM and HAVE_PLAYWRIGHT),
    reason="needs Chromium on PATH (apt-get install chromium) and the browser extra "
           "(pip install -e '.[browser]'); .ci/run installs both",
)
