"""The NAT lab refuses clearly where it cannot work: not Linux, not root, tools missing."""

from __future__ import annotations

import os

import pytest

from callprobe.cli import main
from callprobe.errors import ExitCode
from callprobe.net.lab.builder import NEEDS_ROOT, LabError, check_prerequisites


def every_tool(name: str) -> str:
    return f"/usr/sbin/{name}"


def test_root_on_linux_with_the_tools_passes() -> None:
    check_prerequisites(platform="linux", geteuid=lambda: 0, which=every_tool)


def test_not_root() -> None:
    with pytest.raises(LabError) as info:
        check_prerequisites(platform="linux", geteuid=lambda: 1000, which=every_tool)
    assert str(info.value) == NEEDS_ROOT == "the NAT lab needs root and iptables: apt-get install iptables"
    assert "uid 1000" in info.value.hint
    assert info.value.exit_code is ExitCode.USAGE


def test_missing_tools_are_named_with_their_packages() -> None:
    with pytest.raises(LabError) as info:
        check_prerequisites(platform="linux", geteuid=lambda: 0,
                            which=lambda name: None if name.startswith("iptables") else every_tool(name))
    assert str(info.value) == NEEDS_ROOT
    assert info.value.hint == "missing commands: iptables, iptables-save (apt-get install iptables)"


def test_not_linux() -> None:
    with pytest.raises(LabError, match="needs Linux network namespaces; this system is darwin"):
        check_prerequisites(platform="darwin", geteuid=lambda: 0, which=every_tool)


@pytest.mark.parametrize("args", [["lab", "status"], ["lab", "up"], ["lab", "down"]])
def test_cli_as_non_root_exits_usage_without_traceback(args: list[str], monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"error: {NEEDS_ROOT}\nhint: running as uid 1000")
    assert "Traceback" not in err
