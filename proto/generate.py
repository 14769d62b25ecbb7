"""Regenerate the Python bindings in callprobe/backends/kkim/protocol/_pb from proto/.

Run `python proto/generate.py` after editing a .proto file; `--check` exits
non-zero when the committed bindings differ from what would be generated.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "callprobe" / "backends" / "kkim" / "protocol" / "_pb"
PACKAGE = "callprobe.backends.kkim.protocol._pb"

_IMPORT = re.compile(r"^from openim import (\w+) as (\w+)$", re.MULTILINE)
_PYI_IMPORT = re.compile(r"^import openim\.(\w+)$", re.MULTILINE)


def _rewrite(text: str) -> str:
    """Make generated imports absolute within the callprobe package."""
    text = _IMPORT.sub(rf"from {PACKAGE}.openim import \1 as \2", text)
    return text


def generate(out: Path) -> list[Path]:
    from grpc_tools import protoc  # dev dependency, imported only here

    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    args = ["protoc", f"-I{PROTO_DIR}", f"--python_out={out}", f"--pyi_out={out}", *protos]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    written = []
    for path in sorted(out.rglob("*_pb2.py*")):
        path.write_text(_rewrite(path.read_text()))
        written.append(path)
    for pkg in {out, out / "openim"}:
        (pkg / "__init__.py").write_text('"""Generated protobuf bindings; never edit by hand."""\n')
    return written


def _snapshot(base: Path) -> dict[str, str]:
    return {
        str(p.relative_to(base)): p.read_text()
        for p in sorted(base.rglob("*"))
        if p.is_file() and p.suffix in {".py", ".pyi"}
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    if not args.check:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        generate(OUT_DIR)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        want, have = _snapshot(fresh), _snapshot(OUT_DIR)
    if want == have:
        return 0
    for name in sorted(set(want) | set(have)):
        if want.get(name) != have.get(name):
            diff = difflib.unified_diff(
                have.get(name, "").splitlines(), want.get(name, "").splitlines(),
                f"committed/{name}", f"generated/{name}", lineterm="", n=1,
            )
            print("\n".join(list(diff)[:40]), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
