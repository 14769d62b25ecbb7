"""Secrets never show: not on the command line (they come from the environment), not in a report,
not in the log of a verbose run, with a real TURN server and the auth API secret in play."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.paths import ROOT
from tests.rtc.coturn import Coturn

API_SECRET = "api-secret-Vb41"
TURN_CREDENTIAL = "turn-credential-Hx72"


def callprobe(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CALLPROBE_")}
    return subprocess.run([sys.executable, "-m", "callprobe", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=180, env={**base, **env}, check=False)


def test_diagnose_with_secrets_from_the_environment_shows_none(tmp_path: Path) -> None:
    with Coturn(tmp_path / "turn", password=TURN_CREDENTIAL) as turn:
        args = ["diagnose", "-v", "--media", "audio", "--relay-only", "--turn", f"{turn.url}?transport=udp",
                "--turn-user", turn.user, "--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html"),
                "--bundle", str(tmp_path / "bundle.zip")]
        assert API_SECRET not in args and TURN_CREDENTIAL not in args  # nothing for `ps` to show
        proc = callprobe(*args, env={"CALLPROBE_SECRET": API_SECRET, "CALLPROBE_TURN_CREDENTIAL": TURN_CREDENTIAL})
    assert proc.returncode == 0, proc.stdout + proc.stderr  # the relay worked: the credential was used
    report = json.loads((tmp_path / "r.json").read_text())
    assert any(e["kind"] == "login_ok" for e in report["events"])  # the secret was used too
    written = (tmp_path / "r.json").read_text() + (tmp_path / "r.html").read_text()
    written += (tmp_path / "bundle.zip").read_bytes().decode("latin-1")
    for secret in (API_SECRET, TURN_CREDENTIAL):
        assert secret not in proc.stdout + proc.stderr, f"{secret} in the log"
        assert secret not in written, f"{secret} in a report"


def test_a_verbose_run_with_secrets_in_its_scenario_shows_none(tmp_path: Path) -> None:
    with Coturn(tmp_path / "turn", password=TURN_CREDENTIAL) as turn:
        scenario = tmp_path / "secret.yaml"
        scenario.write_text(
            "name: secrets stay secret\n"
            f"server: {{login: {{secret: {API_SECRET}}}}}\n"
            "ice:\n  relay_only: true\n  host_addresses: [127.0.0.1]\n  servers:\n"
            f"    - urls: '{turn.url}?transport=udp'\n      username: {turn.user}\n"
            f"      credential: {TURN_CREDENTIAL}\n"
            "agents: {alice: {media: audio}, bob: {}}\n"
            "steps:\n  - connect: [alice, bob]\n  - invite: {from: alice, to: bob}\n  - accept: bob\n"
            "  - expect: {event: ice_connected, via: relay, within: 8s}\n  - hangup: alice\n")
        proc = callprobe("run", "-v", str(scenario), "--json", str(tmp_path / "r.json"), "--junit",
                         str(tmp_path / "j.xml"), "--html", str(tmp_path / "r.html"), env={})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = "".join((tmp_path / name).read_text() for name in ("r.json", "j.xml", "r.html"))
    for secret in (API_SECRET, TURN_CREDENTIAL):
        assert secret not in proc.stdout + proc.stderr, f"{secret} in the log"
        assert secret not in written, f"{secret} in a report"
