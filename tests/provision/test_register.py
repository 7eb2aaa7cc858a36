"""From a blank simulated button to a registered unit, using only panic-provision on its console pty."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from provision.console import Console
from tests.provision.conftest import MakeBlank, Run, Site, provision_tool


def _all_host_text(root: Path, *skip: Path) -> str:
    """Every file under `root` except the simulated units' own flash (which stands for the chip) and the
    gateway's state (its database holds the key by design; it is not the technician's laptop)."""
    parts = []
    for p in root.rglob("*"):
        if p.is_file() and not any(s in p.parents for s in skip):
            parts.append(p.read_bytes().decode(errors="replace"))
    return "\n".join(parts)


def test_blank_unit_is_registered_and_online_and_the_key_stays_off_the_host(
        site: Site, blank_button: MakeBlank, tmp_path: Path) -> None:
    button = blank_button("u1")
    owner, premises = site.owner()
    port = button.console_path
    assert port is not None
    info = provision_tool("--lang", "en", "info", "--port", port)
    assert info.code == 0, info.err
    assert "registered   False" in info.out
    run = provision_tool("--lang", "en", "register", "--port", port, "--gateway", site.url, "--owner", owner,
                         "--premises", premises, "--broker", site.broker, "--set", "reconnect_min_ms=100",
                         token=site.tech_token)
    assert run.code == 0, run.out + run.err
    assert "registered (key" in run.out and "is connected to the broker" in run.out
    button.wait_for_indicator("idle", timeout=20)
    # the same command again: nothing to redo, still fine (idempotent)
    again = provision_tool("--lang", "id", "register", "--port", port, "--gateway", site.url, "--owner", owner,
                           "--premises", premises, "--broker", site.broker, token=site.tech_token)
    assert again.code == 0, again.err
    assert "sudah terdaftar di sini" in again.out
    stored = json.loads((button.flash_dir / "secrets.json").read_text())
    key, password = stored["device_key"], stored["mqtt_password"]
    outputs = run.out + run.err + again.out + again.err + info.out
    host = _all_host_text(tmp_path, button.flash_dir.parent, site.state_dir) + outputs
    assert key not in host and key.upper() not in host
    assert password not in host


def test_a_press_in_test_mode_reaches_the_gateway_and_test_mode_ends(site: Site, blank_button: MakeBlank) -> None:
    button = blank_button("u2")
    owner, premises = site.owner()
    port = button.console_path
    assert port is not None
    run = provision_tool("register", "--port", port, "--gateway", site.url, "--owner", owner, "--premises",
                         premises, "--broker", site.broker, token=site.tech_token)
    assert run.code == 0, run.err
    button.wait_for_indicator("idle", timeout=20)
    env = dict(os.environ, PANIC_TOKEN=site.tech_token)
    tool = subprocess.Popen([sys.executable, "-m", "provision.tool", "--lang", "en", "test-alert", "--port", port,
                             "--gateway", site.url], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert tool.stdout is not None
    assert "press and hold" in tool.stdout.readline()
    button.wait_for_log(r"console: test_mode on=1")
    button.press(2500)
    out, err = tool.communicate(timeout=60)
    button.wait_for_log(r"console: test_mode on=0")
    dev = json.loads((button.flash_dir / "config.json").read_text())["device_id"]
    alerts = site.stack.gateway.request("GET", f"/alerts?device_id={dev}")
    assert [a["type"] for a in alerts] == ["test"], alerts
    assert tool.returncode == 0, err
    assert "arrived at the gateway as a test" in out


def test_test_alert_is_confirmed_as_a_test(site: Site, blank_button: MakeBlank) -> None:
    button = blank_button("u3")
    owner, premises = site.owner()
    port = button.console_path
    assert port is not None
    assert provision_tool("register", "--port", port, "--gateway", site.url, "--owner", owner, "--premises",
                          premises, "--broker", site.broker, token=site.tech_token).code == 0
    button.wait_for_indicator("idle", timeout=20)
    env = dict(os.environ, PANIC_TOKEN=site.tech_token)
    tool = subprocess.Popen([sys.executable, "-m", "provision.tool", "--lang", "en", "test-alert", "--port", port,
                             "--gateway", site.url], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert tool.stdout is not None
    tool.stdout.readline()
    button.wait_for_log(r"console: test_mode on=1")
    button.press(2500)
    tool.communicate(timeout=60)
    assert tool.returncode == 0


def _register(site: Site, port: str, owner: str, premises: str) -> Run:
    return provision_tool("--lang", "en", "register", "--port", port, "--gateway", site.url, "--owner", owner,
                          "--premises", premises, "--broker", site.broker, token=site.tech_token)


def test_credentials_issued_but_never_written_the_same_command_completes(site: Site, blank_button: MakeBlank) -> None:
    """The cable was pulled after the gateway issued the credentials, before the unit got them."""
    button = blank_button("lost")
    assert button.console_path is not None
    owner, premises = site.owner()
    with Console(button.console_path) as con:
        dev = con.request("hello")["device_id"]
    site.stack.gateway.request("POST", "/devices", {"device_id": dev, "owner_id": owner, "premises_id": premises},
                               token=site.tech_token)  # the answer that was lost with the cable
    run = _register(site, button.console_path, owner, premises)
    assert run.code == 0, run.err
    button.wait_for_indicator("idle", timeout=20)


def test_unit_lost_power_right_after_storing_the_key_the_same_command_completes(
        site: Site, blank_button: MakeBlank) -> None:
    button = blank_button("cut")
    assert button.console_path is not None
    owner, premises = site.owner()
    mark = button.mark()
    env = dict(os.environ, PANIC_TOKEN=site.tech_token)
    tool = subprocess.Popen([sys.executable, "-m", "provision.tool", "--lang", "en", "register", "--port",
                             button.console_path, "--gateway", site.url, "--owner", owner, "--premises", premises,
                             "--broker", site.broker, "--wait", "3"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    button.wait_for_log(r"console: secrets written", since=mark, timeout=30)
    button.kill()  # before it can answer: the tool never hears that the key was stored
    _, err = tool.communicate(timeout=60)
    assert tool.returncode == 2, err
    button.start()
    assert button.console_path is not None
    run = _register(site, button.console_path, owner, premises)
    assert run.code == 0, run.err
    assert "already registered here" in run.out
    button.wait_for_indicator("idle", timeout=20)


def test_check_prints_a_pass_fail_table_with_the_press(site: Site, blank_button: MakeBlank) -> None:
    button = blank_button("chk")
    assert button.console_path is not None
    owner, premises = site.owner()
    assert _register(site, button.console_path, owner, premises).code == 0
    button.wait_for_indicator("idle", timeout=20)
    tool = subprocess.Popen([sys.executable, "-m", "provision.tool", "--lang", "en", "check", "--port",
                             button.console_path, "--wait", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert tool.stdout is not None
    assert "press and hold" in tool.stdout.readline()
    button.pattern([1500])  # shorter than hold_ms: a press, not an alert
    out, err = tool.communicate(timeout=60)
    assert tool.returncode == 0, out + err
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[2:] if line.strip()}
    assert rows == {name: "PASS" for name in ("config", "power", "battery", "tamper", "wifi", "broker", "heap",
                                              "button")}, out


def test_check_on_a_blank_unit_fails_with_the_reason(blank_button: MakeBlank) -> None:
    button = blank_button("chk0")
    assert button.console_path is not None
    run = provision_tool("--lang", "id", "check", "--port", button.console_path, "--no-press")
    assert run.code == 1
    config_row = next(line for line in run.out.splitlines() if line.startswith("config "))
    assert config_row.split()[1] == "GAGAL" and "no valid config" in config_row


def test_ports_lists_serial_ports() -> None:
    run = provision_tool("ports")
    assert run.code == 0, run.err


def test_configure_checks_on_the_unit_then_writes_and_restarts(blank_button: MakeBlank) -> None:
    button = blank_button("cfg")
    port = button.console_path
    assert port is not None
    bad = provision_tool("--lang", "en", "configure", "--port", port, "--broker", "mqtt.example.org:8883",
                         "--set", "heartbeat_s=0")
    assert bad.code == 2 and "heartbeat_s must be an integer in 1..86400" in bad.err
    assert not (button.flash_dir / "config.json").exists()
    mark = button.mark()
    good = provision_tool("--lang", "en", "configure", "--port", port, "--broker", "mqtt.example.org:8883",
                          "--wifi-ssid", "Toko Emas", "--set", "hold_ms=1500",
                          env={"PANIC_WIFI_PASSWORD": "wifi-secret-123"})
    assert good.code == 0, good.err
    button.wait_for_log(r"app: starting", since=mark)  # it restarted to use them
    info = provision_tool("--lang", "en", "info", "--port", port)
    assert '"broker_host": "mqtt.example.org"' in info.out and '"wifi_ssid": "Toko Emas"' in info.out
    assert "['wifi_password']" in info.out
    assert "wifi-secret-123" not in good.out + good.err + info.out + button.tail(200)


def test_a_registered_units_broker_changes_only_with_the_gateways_proof(site: Site, blank_button: MakeBlank) -> None:
    button = blank_button("move")
    port = button.console_path
    assert port is not None
    owner, premises = site.owner()
    assert _register(site, port, owner, premises).code == 0
    button.wait_for_indicator("idle", timeout=20)
    moved = f"localhost:{site.stack.broker_config.port}"
    refused = provision_tool("--lang", "en", "configure", "--port", port, "--broker", moved)
    assert refused.code == 2 and "auth_required" in refused.err
    wrong = provision_tool("--lang", "en", "configure", "--port", port, "--broker", moved, "--gateway", site.url,
                           token="not-a-token")
    assert wrong.code == 2 and "rejected the token" in wrong.err
    with Console(port) as con:
        assert con.request("info")["config"]["broker_host"] == site.stack.broker_config.host
    mark = button.mark()
    done = provision_tool("--lang", "en", "configure", "--port", port, "--broker", moved, "--gateway", site.url,
                          token=site.tech_token)
    assert done.code == 0, done.err + button.tail(40)
    button.wait_for_log(r"link: connected host=localhost", since=mark, timeout=30)


def test_a_clustered_brokers_endpoints_are_written_in_order_and_the_unit_uses_one_that_works(
        site: Site, blank_button: MakeBlank) -> None:
    """`--broker` repeated: the endpoints of a clustered broker (docs/scaling.md), in the order the unit
    tries them. The first here is dead (nothing listens on port 9), so the unit goes on to the second."""
    button = blank_button("cluster")
    owner, premises = site.owner()
    assert button.console_path is not None
    run = provision_tool("--lang", "en", "register", "--port", button.console_path, "--gateway", site.url,
                         "--owner", owner, "--premises", premises, "--broker", "127.0.0.1:9", "--broker", site.broker,
                         "--set", "reconnect_min_ms=100", token=site.tech_token)
    assert run.code == 0, run.out + run.err
    host, port = site.broker.rsplit(":", 1)
    config = json.loads((button.flash_dir / "config.json").read_text())
    assert config["brokers"] == [{"host": "127.0.0.1", "port": 9}, {"host": host, "port": int(port)}]
    button.wait_for_log(rf"link: connected host=\S+ port={port}", timeout=20)
    button.wait_for_indicator("idle", timeout=20)
