"""The HTML ladder: escaping, self-containment, and what headless Chromium makes of it.

Chromium (Debian package ``chromium``) loads the page from a file: ``--dump-dom``
proves the browser parsed one SVG arrow per ladder arrow and the findings, and
a screenshot proves the page paints (decoded with PyAV, which aiortc brings).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from callprobe.analysis.diagnostics import diagnose_timeline
from callprobe.analysis.diagnostics.findings import Severity
from callprobe.reporters.ladder import Ladder, build_ladder
from callprobe.reporters.ladder.html import COLOURS, SEVERITY_COLOUR, render_ladder_html
from tests.analysis.diagnostics.timeline_fakes import ALICE, BOB, CTX, TL

#: One headless Chromium run (start, load a local file, dump or paint, exit).
CHROMIUM_TIMEOUT_S = 60.0
WINDOW = (1200, 900)


def broken_call() -> TL:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.text(ALICE, BOB)
    tl.invite(ring_room="r-<b>&\"x\"")   # hostile text must be escaped
    tl.accept()
    tl.sdp()
    tl.ice(ok=False)
    tl.hangup(delivered=False)
    tl(ALICE, "note", note="<script>alert(1)</script>")
    return tl


def ladder_of(tl: TL) -> Ladder:
    events = tl.finish()
    return build_ladder(events, diagnose_timeline(events, CTX), CTX)


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("headless Chromium not found: install the Debian package 'chromium'")


def run_chromium(args: list[str], profile: Path) -> str:
    """Run Chromium in its own process group and always reap that group."""
    cmd = [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True, text=True)
    try:
        out, _ = proc.communicate(timeout=CHROMIUM_TIMEOUT_S)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    assert proc.returncode in (0, -signal.SIGKILL), f"chromium exited with {proc.returncode}"
    return out


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Ladder, Path, str, Path]:
    """The broken call's page, its DOM as Chromium parsed it, and a screenshot."""
    base = tmp_path_factory.mktemp("ladder_html")
    ladder = ladder_of(broken_call())
    html = base / "ladder.html"
    html.write_text(render_ladder_html(ladder, title="call <alice> & bob"), encoding="utf-8")
    dom = run_chromium(["--dump-dom", html.as_uri()], base / "profile-dom")
    png = base / "ladder.png"
    run_chromium([f"--screenshot={png}", f"--window-size={WINDOW[0]},{WINDOW[1]}", html.as_uri()],
                 base / "profile-shot")
    return ladder, html, dom, png


def test_page_escapes_text_and_needs_nothing_from_outside() -> None:
    ladder = ladder_of(broken_call())
    text = render_ladder_html(ladder, title="call <alice> & bob")
    assert "<script" not in text.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text      # the note is drawn, as text
    assert "r-&lt;b&gt;&amp;&quot;x&quot;" in text
    assert "call &lt;alice&gt; &amp; bob" in text
    assert not re.search(r"\b(src|href)=\"(https?:)?//", text)
    assert "<link" not in text and "@import" not in text
    assert text.count('<line class="arrow') == len(ladder.arrows)


Page = tuple[Ladder, Path, str, Path]


def test_chromium_parses_one_svg_line_per_arrow_and_the_findings(page: Page) -> None:
    ladder, _, dom, _ = page
    assert dom.count('<line class="arrow') == len(ladder.arrows) > 20
    for code in ("ROOM_ID_MISMATCH", "ICE_FAILED", "HANGUP_NOT_DELIVERED"):
        assert code in dom
    assert '<li id="finding-1"' in dom and 'href="#finding-1"' in dom
    assert "no relay candidates: configure TURN" in dom        # the hint, in the legend and tooltips
    assert "<script" not in dom.lower()                          # the hostile note stayed text
    assert "&lt;script&gt;alert(1)" in dom
    assert dom.count("finding-error") >= 3                       # rows marked by their findings


def test_screenshot_is_painted_with_the_finding_colour(page: Page) -> None:
    *_, png = page
    assert png.exists() and png.stat().st_size > 10_000
    with av.open(str(png)) as container:
        frame = next(container.decode(video=0))
        pixels = frame.to_ndarray(format="rgb24").astype(np.int32)
    assert pixels.shape == (WINDOW[1], WINDOW[0], 3)
    packed = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
    assert len(np.unique(packed)) > 50   # not a blank page

    def count(hex_colour: str) -> int:
        rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
        return int(np.all(np.abs(pixels - rgb) < 24, axis=2).sum())

    assert count(SEVERITY_COLOUR[Severity.ERROR]) > 500   # red arrows, badges, banner
    assert count(COLOURS["request"]) > 200                # ordinary arrows too


def test_empty_timeline_renders_a_page_with_only_the_gateway() -> None:
    ladder = build_ladder([])
    text = render_ladder_html(ladder)
    assert [c.key for c in ladder.columns] == ["(gateway)"] and ladder.rows == ()
    assert "No findings" in text and text.count('<line class="arrow') == 0
