"""The ladder (sequence) diagram of a run: who sent what to whom, and when.

``model`` builds a pure ``Ladder`` from the timeline and the findings;
``pairs`` decides which frame carried which meaning; ``text`` draws it for a
terminal and ``html`` as a self-contained page.
"""

from callprobe.reporters.ladder.html import render_ladder_html
from callprobe.reporters.ladder.model import GATEWAY, Ladder, LadderColumn, LadderRow, build_ladder
from callprobe.reporters.ladder.text import render_ladder, render_ladder_text

__all__ = ["GATEWAY", "Ladder", "LadderColumn", "LadderRow", "build_ladder", "render_ladder",
           "render_ladder_html", "render_ladder_text"]
