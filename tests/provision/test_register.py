"""From a blank simulated button to a registered unit, using only panic-provision on its console pty."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from provision.console import Console, DeviceError
from simulator.button import SimulatedButton
from tests.provision.conftest import MakeBlank, Run, Site, provision_tool

NMEA = Path(__file__).resolve().parents[1] / "data" / "nmea" / "neo-m8n.log"


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


def _registered_unit(site: Site, blank_button: MakeBlank, name: str) -> tuple[SimulatedButton, str]:
    """A button registered with panic-provision, idle on the broker, and its console port."""
    button = blank_button(name)
    port = button.console_path
    assert port is not None
    owner, premises = site.owner()
    assert _register(site, port, owner, premises).code == 0
    button.wait_for_indicator("idle", timeout=20)
    return button, port


def _rows(out: str) -> dict[str, str]:
    """check's table: {check: result}, the columns where the header puts them."""
    head, _, *table = out[out.index("check "):].splitlines()
    start, end = head.index("result"), head.index("detail")
    return {line.split()[0]: line[start:end].strip() for line in table if line.strip()}


def test_check_prints_a_pass_fail_table_with_the_press(site: Site, blank_button: MakeBlank) -> None:
    button, port = _registered_unit(site, blank_button, "chk")
    button.feed_nmea(NMEA.read_text(encoding="ascii").splitlines()[:40])  # a fix, as a receiver under the sky
    button.wait_for_log(r"gps: fix ", timeout=20)
    buzzes = button.buzzes
    tool = subprocess.Popen([sys.executable, "-m", "provision.tool", "--lang", "en", "check", "--port",
                             port, "--wait", "20", "--ask"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert tool.stdout is not None and tool.stdin is not None
    assert "is the LED blinking" in tool.stdout.readline()
    button.wait_for_indicator("identify", timeout=10)  # the console made it blink: the technician sees it
    tool.stdin.write("y\n")
    tool.stdin.flush()
    assert "buzzer" in tool.stdout.readline()
    button.wait_for_buzzes(buzzes)  # and beep (the device's event comes a moment after the tool's question)
    tool.stdin.write("ya\n")  # Indonesian yes works too
    tool.stdin.flush()
    assert "press and hold" in tool.stdout.readline()
    for _ in range(8):  # as a technician would: press again while the tool has not seen it
        button.pattern([1500])  # shorter than hold_ms: a press, not an alert; 2.5 s apart: no triple tap
        try:
            tool.wait(timeout=2.5)
            break
        except subprocess.TimeoutExpired:
            continue
    out, err = tool.communicate(timeout=60)
    assert tool.returncode == 0, out + err
    rows = _rows(out)
    assert rows == {
        name: "PASS" for name in ("config", "power", "tamper", "gps", "modem", "wifi", "broker", "heap", "led",
                                  "buzzer", "button")} | {"modem": "NOT CONFIRMED"}, out
    assert "satellites" in out and "not in use (board modem: A7670E)" in out, out


def test_check_without_a_technician_leaves_led_and_buzzer_not_confirmed(site: Site, blank_button: MakeBlank) -> None:
    """--yes (batch, tests): nobody looked at the LED or listened for the buzzer, so neither passes."""
    button, port = _registered_unit(site, blank_button, "chky")
    run = provision_tool("--lang", "en", "check", "--port", port, "--no-press", "--yes")
    rows = _rows(run.out)
    assert rows["led"] == rows["buzzer"] == "NOT CONFIRMED", run.out
    assert rows["gps"] == "FAIL" and "no fix yet" in run.out, run.out  # no NMEA fed: the receiver sees no sky
    assert run.code == 1, run.out + run.err  # the GPS failed
    button.wait_for_indicator("identify", timeout=10)  # the unit did blink: only the confirmation is missing


def test_info_shows_what_the_unit_sees(site: Site, blank_button: MakeBlank) -> None:
    button, port = _registered_unit(site, blank_button, "inf")
    before = provision_tool("--lang", "en", "info", "--port", port)
    assert before.code == 0, before.err
    seen = dict(line.split(None, 1) for line in before.out.split("the unit sees now:")[1].strip().splitlines())
    assert seen["gps"] == "no fix yet"
    assert seen["modem"] == "not in use (board modem: A7670E)"
    assert seen["wifi"] == "connected, rssi -55 dBm"
    assert seen["broker"] == f"connected to {site.broker}"
    assert seen["button"] == "not pressed" and seen["tamper"] == "closed"
    assert seen["power"].startswith("mains, battery ")
    button.feed_nmea(NMEA.read_text(encoding="ascii").splitlines()[:40])
    button.wait_for_log(r"gps: fix ", timeout=20)
    mark = button.mark()
    button.tamper(True)
    button.wait_for_log(r"type=tamper", since=mark, timeout=10)
    after = provision_tool("--lang", "id", "info", "--port", port)
    seen = dict(line.split(None, 1) for line in after.out.split("yang dilihat unit sekarang:")[1].strip().splitlines())
    assert seen["gps"].startswith("fix, ") and "satelit" in seen["gps"], after.out
    assert seen["tamper"] == "TERBUKA"


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
    # The same move as a cluster's endpoint list (`brokers`), and the SMS numbers alerts go to: refused too.
    cluster = provision_tool("--lang", "en", "configure", "--port", port, "--broker", moved, "--broker", moved)
    assert cluster.code == 2 and "auth_required" in cluster.err, cluster.out + cluster.err
    with Console(port) as con, pytest.raises(DeviceError) as sms:
        con.request("configure", set={"sms_to": ["+6281234567890"]})
    assert sms.value.code == "auth_required"
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


def test_a_tls_endpoint_is_written_with_its_tls_flag(blank_button: MakeBlank) -> None:
    """`--broker mqtts://HOST:PORT`: that endpoint is reached over TLS (docs/firmware.md, TLS). Before, the
    tool had no way to say so: `--broker HOST:8883` wrote a plain-TCP endpoint."""
    button = blank_button("tls")
    port = button.console_path
    assert port is not None
    for bad in ("mqtts://:8883", "tcp://mqtt.example.org:1883", "mqtts://mqtt.example.org"):
        refused = provision_tool("--lang", "en", "configure", "--port", port, "--broker", bad)
        assert refused.code == 2 and "HOST:PORT" in refused.err, bad
    assert not (button.flash_dir / "config.json").exists()
    run = provision_tool("--lang", "en", "configure", "--port", port, "--broker", "mqtts://mqtt.example.org:18883",
                         "--broker", "127.0.0.1:1883")
    assert run.code == 0, run.err
    config = json.loads((button.flash_dir / "config.json").read_text())
    assert config["brokers"] == [{"host": "mqtt.example.org", "port": 18883, "tls": True},
                                 {"host": "127.0.0.1", "port": 1883}]
    button.wait_for_log(r"app: starting")
    one = provision_tool("--lang", "en", "configure", "--port", port, "--broker", "mqtts://mqtt.example.org:8883")
    assert one.code == 0, one.err
    config = json.loads((button.flash_dir / "config.json").read_text())
    assert config["brokers"] == [{"host": "mqtt.example.org", "port": 8883, "tls": True}]
    assert "broker_host" not in config
