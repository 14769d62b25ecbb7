"""Every page and section the code, tests and documents cite exists in ``docs/``.

The repository explains itself: a citation like ``docs/backends/kkim.md#heartbeat``
must lead a reader with only a clone to a real heading. Anchors are the
GitHub slugs of the headings.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from tests.paths import ROOT

CITATION = re.compile(r"docs/([\w./-]+?\.md)(?:#([\w-]+))?")
SOURCES = [p for d in ("callprobe", "tests", "benchmarks", "scenarios", "docs", "proto")
           for p in (ROOT / d).rglob("*") if p.suffix in (".py", ".md", ".yaml", ".json", ".js", ".html", ".toml")
           and "_pb" not in p.parts]
SOURCES += [ROOT / "README.md"]
#: Outside documents the project must never send a reader to.
OUTSIDE = re.compile(r"PROTOCOL\.md|FIELD-REPORTS|AIORTC-NOTES|BACKENDS\.md|DECISIONS\.md|STYLE\.md|seed.s |\bPart [AB]\b|B§|\bseeds?\b [0-9]|\.\./shared")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def anchors(page: Path) -> frozenset[str]:
    found: dict[str, int] = {}
    out = set()
    for line in page.read_text().splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = found.get(base, 0)
        found[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return frozenset(out)


def citations() -> list[tuple[str, str, str | None]]:
    out = []
    for path in SOURCES:
        for page, anchor in CITATION.findall(path.read_text(errors="replace")):
            out.append((str(path.relative_to(ROOT)), page, anchor or None))
    return out


def test_there_are_citations_to_check() -> None:
    assert len(citations()) > 100


@pytest.mark.parametrize("source, page, anchor", sorted(set(citations()), key=lambda c: (c[0], c[1], c[2] or "")))
def test_each_cited_page_and_anchor_exists(source: str, page: str, anchor: str | None) -> None:
    target = ROOT / "docs" / page
    assert target.is_file(), f"{source} cites docs/{page}, which does not exist"
    if anchor:
        assert anchor in anchors(target), f"{source} cites docs/{page}#{anchor}: no such heading"


def test_no_source_cites_a_document_outside_the_repository() -> None:
    offenders = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in SOURCES
                 for n, line in enumerate(p.read_text(errors="replace").splitlines(), start=1)
                 if OUTSIDE.search(line) and p.name != "test_citations.py"]
    assert not offenders, "\n".join(offenders)


def test_slugs_follow_github() -> None:
    assert slug("Where servers differ") == "where-servers-differ"
    assert slug("`webrtc_signal` (contentType 110)") == "webrtc_signal-contenttype-110"
    assert slug("Call signaling: 1004") == "call-signaling-1004"
