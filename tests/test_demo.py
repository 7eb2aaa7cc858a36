"""The README's first command, end to end: `panic-demo` as a user runs it."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.contract import assert_valid


def command_lines() -> list[str]:
    """Every running process's command line (procps may not be installed)."""
    lines = []
    for entry in Path("/proc").iterdir():
        try:
            lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue  # not a process, or it just ended
    return lines


def test_demo_runs_the_whole_path_and_leaves_nothing_running(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "simulator.demo", "--dir", str(state)],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # the enriched alert exactly as dispatch received it
    start = out.index("{\n")
    alert = json.loads(out[start:out.index("\n}\n", start) + 2])
    assert_valid("dispatch-alert.json", alert)
    assert re.fullmatch(r"pb-24a160c0ffee:\d+", alert["alert_id"])
    assert alert["owner"]["name"] == "Toko Emas Sinar Jaya"
    assert alert["location"]["source"] == "premises"
    # routed with the sample stations imported before the press: the nearest, then 3 candidates
    assert "imported the sample stations" in out and "9 created" in out
    assert alert["station"]["id"] == "polresta-bandar-lampung"
    assert [c["id"] for c in alert["candidates"]] == [
        "polsek-tanjung-karang-pusat", "polsek-tanjung-karang-timur", "polsek-teluk-betung-selatan"]
    assert "to Polresta Bandar Lampung (sample) [polresta-bandar-lampung]" in out
    assert "candidates: Polsek Tanjung Karang Pusat (sample) [polsek-tanjung-karang-pusat]" in out
    assert "the station desk received it on panic/v1/dispatch/stations/polresta-bandar-lampung/alerts" in out
    # then the button's view: received by the gateway, acknowledged by police
    assert out.index("indicator 'received'") < out.index("indicator 'acknowledged'")
    # nobody answered within the demo's escalation time: escalated to the next candidate and the parent
    escalation = re.search(r"rev 2 escalates to level 1, to (\S+), (\S+) ", out)
    assert escalation is not None, out
    assert escalation.groups() == ("polsek-tanjung-karang-pusat", "polda-lampung")
    assert out.index("escalates to level 1") < out.index("dispatch acknowledged")
    # then police take it to its end and the button follows: back to idle once resolved
    assert "police: resolved (POST /alerts/{id}/ack; rev 6 on dispatch); button indicator 'idle'" in out
    assert ("timeline (GET /alerts/{id}): new; new level 1; acknowledged by Polsek Tanjung Karang, desk 2; "
            "dispatched by") in out
    assert "demo complete" in out
    # no secret in anything a person reads: the demo's output and every log it kept
    secrets = json.loads((state / "button-flash" / "secrets.json").read_text())
    assert len(secrets["device_key"]) == 64 and secrets["mqtt_password"]
    logs = [out, result.stderr, *(p.read_text(errors="replace") for p in state.rglob("*.log"))]
    assert len(logs) >= 5  # stdout, stderr, broker, gateway and button logs
    for text in logs:
        assert secrets["device_key"] not in text and secrets["mqtt_password"] not in text
    # nothing left running from this demo's directory
    leftovers = [cmd for cmd in command_lines() if str(state) in cmd]
    assert leftovers == [], leftovers
    api_port = int(re.search(r"API on http://127.0.0.1:(\d+)", out).group(1))  # type: ignore[union-attr]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", api_port), timeout=1).close()


def test_demo_sms_shows_the_alert_by_sms_and_the_ack_sms_and_police_states_lighting_the_button(tmp_path: Path) -> None:
    state = tmp_path / "demo-sms"
    result = subprocess.run([sys.executable, "-m", "simulator.demo", "--sms", "--dir", str(state)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "data cut: the button's Wi-Fi is down" in out
    sms = re.search(r"the alert went out as a signed SMS .*: (PB1 A 24a160c0ffee \d+ S .*)\n", out)
    assert sms is not None, out
    start = out.index("{\n")
    alert = json.loads(out[start:out.index("\n}\n", start) + 2])
    assert_valid("dispatch-alert.json", alert)
    assert alert["device"]["network"] == "sms" and alert["type"] == "sos"
    assert alert["alert_id"] == f"pb-24a160c0ffee:{sms.group(1).split()[3]}"
    assert re.search(r"the gateway answered with a signed ack SMS: PB1 K 24a160c0ffee \d+ R \d+ [0-9a-f]{16}\n", out)
    # the order a person watching sees: SMS out, dispatch, ack SMS, the button lit, then the states police set,
    # each by SMS while the button's data is still down
    assert re.search(r"texted the new state, signed, as the alert came by SMS: PB1 K 24a160c0ffee \d+ A \d+ "
                     r"[0-9a-f]{16}\n", out), out
    assert re.search(r"by SMS: PB1 K 24a160c0ffee \d+ D \d+ [0-9a-f]{16}; button indicator 'on_the_way'", out), out
    steps = ["signed SMS", "dispatch received alert", "signed ack SMS", "indicator 'received'",
             "dispatch acknowledged it", "texted the new state", "indicator shows 'acknowledged', with no data link",
             "indicator 'on_the_way'", "data is back", "demo complete"]
    positions = [out.index(step) for step in steps]
    assert positions == sorted(positions), out
    secrets = json.loads((state / "button-flash" / "secrets.json").read_text())
    for text in [out, result.stderr, *(p.read_text(errors="replace") for p in state.rglob("*.log"))]:
        assert secrets["device_key"] not in text and secrets["mqtt_password"] not in text
    assert [cmd for cmd in command_lines() if str(state) in cmd] == []
