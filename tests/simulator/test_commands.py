"""Remote commands end to end: the real firmware (compiled, 110 KB heap), the real broker, the real gateway.

A technician's `POST /devices/{id}/commands` goes through the gateway's outbox to the button, which
executes it and answers on its result topic; the gateway shows the answer. Commands a real gateway would
never send (forged, unsigned, unknown, out of range, replayed) are published here by hand, as the
`gateway` broker account, to show the button rejects them with a logged reason and changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.protocol import sign
from simulator.button import SimulatedButton
from simulator.stack import MqttListener, Stack
from tests.contract import assert_valid
from tests.simulator.test_gps_button import CAPTURE, last_epoch

DEVICE = "pb-0badc0ffee02"
CMD_TOPIC = f"panic/v1/dev/{DEVICE}/cmd"
RESULT_TOPIC = f"panic/v1/dev/{DEVICE}/result"
FAST = {"reconnect_min_ms": 100, "reconnect_max_ms": 1000}
HEAP_FLOOR = 16 * 1024  # tests/simulator/test_button.py::test_heap_after_an_acked_alert's threshold


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with Stack(tmp_path) as running:
        yield running


@pytest.fixture
def issued(stack: Stack) -> dict[str, Any]:
    return stack.register_button(DEVICE)


@pytest.fixture
def button(stack: Stack, issued: dict[str, Any], tmp_path: Path) -> Iterator[SimulatedButton]:
    flash = tmp_path / "flash"
    SimulatedButton.provision(flash, device_id=DEVICE, device_key_hex=issued["device_key"],
                              mqtt_password=issued["mqtt_password"], broker_host=stack.broker_config.host,
                              broker_port=stack.broker_config.port, **FAST)
    sim = SimulatedButton(flash, log_file=tmp_path / "button.log")
    sim.start()
    sim.wait_for_indicator("idle", timeout=30)
    yield sim
    sim.stop()
    log = sim.flash_dir.parent.joinpath("button.log").read_text()
    assert issued["device_key"] not in log.lower() and issued["mqtt_password"] not in log


def send(stack: Stack, cmd: str, **args: int) -> dict[str, Any]:
    created: dict[str, Any] = stack.gateway.request("POST", f"/devices/{DEVICE}/commands", {"cmd": cmd, "args": args})
    return created


def answered(stack: Stack, command: dict[str, Any], timeout: float = 20) -> dict[str, Any]:
    """The command once the device's result is in and the broker's PUBACK recorded (polls the API until
    then: the answer can overtake the publisher's confirmation)."""
    deadline = time.monotonic() + timeout
    while True:
        got: dict[str, Any] = stack.gateway.request("GET", f"/devices/{DEVICE}/commands/{command['id']}")
        if (got["status"] in ("ok", "rejected") and got["sent_at"]) or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def heap_after_command(button: SimulatedButton, since: int) -> dict[str, int]:
    m = button.wait_for_log(r"mem: cmd alloc=(\d+) free=(\d+) peak=(\d+) code=(\d+)", since=since)
    memory = {"alloc": int(m[1]), "free": int(m[2]), "peak": int(m[3]), "code": int(m[4])}
    assert memory["free"] > HEAP_FLOOR, memory
    return memory


def config_json(button: SimulatedButton) -> dict[str, Any]:
    config: dict[str, Any] = json.loads((button.flash_dir / "config.json").read_text())
    return config


def test_each_command_end_to_end(stack: Stack, button: SimulatedButton) -> None:
    dispatch = stack.dispatch()
    try:
        # locate before the receiver has a fix: the answer says loc null
        mark = button.mark()
        done = answered(stack, send(stack, "locate"))
        assert (done["status"], done["cseq"], done["result"]["loc"]) == ("ok", 1, None), done
        assert done["sent_at"] and done["answered_at"]
        button.wait_for_log(r"cmd: locate loc=null gps=nofix", since=mark)
        print("heap after locate:", heap_after_command(button, mark))

        # test: a test alert, raised and delivered like any other
        mark = button.mark()
        done = answered(stack, send(stack, "test"))
        assert done["status"] == "ok", done
        seq = done["result"]["seq"]
        button.wait_for_log(rf"alert: raised seq={seq} type=test", since=mark)
        _topic, payload = dispatch.next(20, "/dispatch/alerts")
        alert = json.loads(payload)
        assert_valid("dispatch-alert.json", alert)
        assert (alert["alert_id"], alert["type"], alert["cid"]) == (f"{DEVICE}:{seq}", "test", "601")
        button.wait_for_log(rf"ack: delivered seq={seq} ", since=mark, timeout=20)
        m = button.wait_for_log(rf"mem: acked seq={seq} alloc=(\d+) free=(\d+) peak=(\d+) code=(\d+)", since=mark)
        print(f"heap after the test command's alert was acked: alloc={m[1]} free={m[2]} peak={m[3]} code={m[4]}")
        assert int(m[2]) > HEAP_FLOOR

        # identify: the indicator blinks `identify` (and the buzzer beeps), then shows the state again
        mark = button.mark()
        assert answered(stack, send(stack, "identify"))["status"] == "ok"
        button.wait_for_log(r"indicator: state=identify prev=\w+ why=cmd", since=mark)
        button.wait_for_log(r"indicator: state=\w+ prev=identify why=identify_done", since=mark, timeout=20)

        # config: a press of 1.3 s is too short for the default hold (2 s) ...
        mark = button.mark()
        button.press(1300)
        button.wait_for_log(r"button: ", since=mark)  # the press was seen
        assert not any("alert: raised" in line for line in button.lines[mark:])
        mark = button.mark()
        done = answered(stack, send(stack, "config", heartbeat_s=5, hold_ms=1000))
        assert (done["status"], done["args"]) == ("ok", {"heartbeat_s": 5, "hold_ms": 1000}), done
        button.wait_for_log(r"cmd: config heartbeat_s=5", since=mark)
        assert {k: config_json(button)[k] for k in ("heartbeat_s", "hold_ms")} == {"heartbeat_s": 5, "hold_ms": 1000}
        print("heap after config:", heap_after_command(button, mark))
        # ... and after the command it is enough: applied at once
        mark = button.mark()
        button.press(1300)
        button.wait_for_log(r"alert: raised seq=\d+ type=sos", since=mark)
        beats = button.wait_for_log(r"heartbeat: sent seq=(\d+)", since=mark)
        button.wait_for_log(rf"heartbeat: sent seq=(?!{beats[1]}\b)\d+", since=mark, timeout=15)

        # reboot: answered first, then the button restarts on the same flash, with the new configuration
        mark = button.mark()
        done = answered(stack, send(stack, "reboot"))
        assert done["status"] == "ok", done
        button.wait_for_log(r"app: starting", since=mark, timeout=20)
        assert button.reboots == 1
        button.wait_for_log(r"config: loaded .*heartbeat_s=5 hold_ms=1000", since=mark)
        button.wait_for_indicator("idle", timeout=30)

        # after the reboot the next command still counts up from the stored cseq
        done = answered(stack, send(stack, "locate"))
        assert (done["status"], done["cseq"]) == ("ok", 6), done
        listed = stack.gateway.request("GET", f"/devices/{DEVICE}/commands")
        assert [(c["cseq"], c["cmd"], c["status"]) for c in listed] == [
            (6, "locate", "ok"), (5, "reboot", "ok"), (4, "config", "ok"), (3, "identify", "ok"),
            (2, "test", "ok"), (1, "locate", "ok")]
    finally:
        dispatch.close()


def test_locate_answers_with_the_exact_gps_fix(stack: Stack, button: SimulatedButton) -> None:
    """Once the receiver has a fix, `locate` answers with it exactly as an alert would carry it."""
    epoch, lat, lon = last_epoch(CAPTURE)
    mark = button.mark()
    button.feed_nmea(epoch)  # one epoch of the receiver: a valid RMC and GGA
    button.wait_for_log(r"gps: fix dim=", since=mark, timeout=15)
    done = answered(stack, send(stack, "locate"))
    loc = done["result"]["loc"]
    assert done["status"] == "ok" and loc is not None, done
    assert (round(loc["lat"] * 10**7), round(loc["lon"] * 10**7), loc["src"]) == (lat, lon, "gps"), loc


def _command(key_hex: str, cseq: int, cmd: str, args: dict[str, Any] | None = None) -> bytes:
    now = int(time.time())
    body = {"v": 1, "dev": DEVICE, "cseq": cseq, "cmd": cmd, "args": args or {}, "ts": now, "exp": now + 300}
    return sign(bytes.fromhex(key_hex), CMD_TOPIC, body)


def test_forged_unsigned_unknown_out_of_range_and_replayed_commands_change_nothing(
    stack: Stack, issued: dict[str, Any], button: SimulatedButton
) -> None:
    peer = MqttListener(stack.broker_config, "gateway", stack.broker_config.gateway_password, [RESULT_TOPIC])
    key = issued["device_key"]
    before = (button.flash_dir / "config.json").read_bytes()

    def publish(payload: bytes, reason: str | None) -> dict[str, Any]:
        mark = button.mark()
        peer.publish(CMD_TOPIC, payload)
        if reason is not None:
            button.wait_for_log(rf"W \d+ cmd: rejected reason={reason} ", since=mark)
        _topic, answer = peer.next(15, "/result")
        assert_valid("device-result.json", json.loads(answer))
        result: dict[str, Any] = json.loads(answer)
        assert result["reason"] == reason, result
        return result

    try:
        forged = _command("00" * 32, 5, "config", {"heartbeat_s": 7})
        assert publish(forged, "bad_sig")["cseq"] is None
        unsigned = forged[:-74] + b"}"
        publish(unsigned, "no_sig")
        assert publish(_command(key, 5, "selfdestruct"), "unknown_cmd")["cseq"] == 5
        assert publish(_command(key, 5, "config", {"heartbeat_s": 0}), "out_of_range")["cmd"] == "config"
        publish(_command(key, 5, "config", {"wdt_ms": 2000}), "bad_args")
        # nothing changed: not the configuration, and not the stored cseq either (5 is still unused)
        assert (button.flash_dir / "config.json").read_bytes() == before
        assert not (button.flash_dir / "cseq").exists()
        valid = _command(key, 5, "identify")
        assert publish(valid, None)["status"] == "ok"
        assert (button.flash_dir / "cseq").read_text() == "5\n"
        # the same bytes again, and again after a power cut: replay
        publish(valid, "replay")
        button.kill()
        button.start()
        button.wait_for_indicator("idle", timeout=30)
        publish(valid, "replay")
        assert publish(_command(key, 4, "reboot"), "replay")["cmd"] == "reboot"
        assert button.reboots == 0  # the replayed reboot did not reboot
        assert (button.flash_dir / "config.json").read_bytes() == before
        # the gateway verified the results too: the forged one it could not match, and says so
        deadline = time.monotonic() + 10
        while "rejected a command it could not read: bad_sig" not in stack.gateway.log():
            assert time.monotonic() < deadline, stack.gateway.log()[-2000:]
            time.sleep(0.05)
    finally:
        peer.close()


@pytest.mark.parametrize("point", ["committed", "published"])
def test_a_gateway_killed_on_the_way_neither_loses_nor_repeats_a_command(
    stack: Stack, button: SimulatedButton, point: str
) -> None:
    """SIGKILL right after the commit (before the publisher has the command, before the API answers), or
    after the broker's PUBACK (before the outbox row goes, so it is published again): the command is
    executed once, and shows ok."""
    gateway = stack.gateway
    gateway.stop()
    gateway.env["PANIC_TEST_CRASH_AT"] = point
    gateway.start(module="tests.gateway.crashing_command_gateway")
    mark = button.mark()
    with contextlib.suppress(RuntimeError, OSError):  # the API may die before it answers
        send(stack, "test")
    assert gateway.process is not None
    gateway.process.wait(timeout=20)
    assert gateway.process.returncode == -9 and f"command {point}, killing the gateway" in gateway.log()
    del gateway.env["PANIC_TEST_CRASH_AT"]
    gateway.start()
    [command] = gateway.request("GET", f"/devices/{DEVICE}/commands")
    done = answered(stack, command)
    assert (done["status"], done["cseq"], done["cmd"]) == ("ok", 1, "test"), done
    if point == "published":
        # published twice: the second copy is answered replay, which changes nothing
        button.wait_for_log(r"cmd: rejected reason=replay cseq=1 ", since=mark, timeout=20)
        deadline = time.monotonic() + 10
        while "result for cseq 1 (rejected replay) matches no waiting command" not in gateway.log():
            assert time.monotonic() < deadline, gateway.log()[-2000:]
            time.sleep(0.05)
        assert answered(stack, command)["status"] == "ok"
    lines = button.lines[mark:]
    assert sum("cmd: accepted cseq=1 cmd=test" in line for line in lines) == 1, "\n".join(lines)
    assert sum("type=test" in line and "alert: raised" in line for line in lines) == 1


def test_config_changes_the_gesture_timings_and_refuses_a_hold_that_reaches_the_cancel(
    stack: Stack, issued: dict[str, Any], button: SimulatedButton
) -> None:
    """`config` takes the gesture timings (cancel_ms, cancel_window_s, taps_ms) as well as heartbeat_s and
    hold_ms. A hold_ms that would reach cancel_ms (the current one, or the one in the same command) is
    refused as out_of_range: the boot would refuse that config.json (panic.cfgcheck), so accepting it
    would leave the unit running on its last good copy with a fault after its next reboot."""
    before = (button.flash_dir / "config.json").read_bytes()
    mark = button.mark()
    done = answered(stack, send(stack, "config", hold_ms=10000))  # the default cancel_ms is 10000
    assert (done["status"], done["result"]["reason"]) == ("rejected", "out_of_range"), done
    button.wait_for_log(r"W \d+ cmd: rejected reason=out_of_range cseq=1 ", since=mark)
    assert (button.flash_dir / "config.json").read_bytes() == before
    assert not (button.flash_dir / "cseq").exists()

    mark = button.mark()
    done = answered(stack, send(stack, "config", cancel_ms=15000, cancel_window_s=60, taps_ms=2500))
    assert done["status"] == "ok", done
    for setting in ("cancel_ms=15000", "cancel_window_s=60", "taps_ms=2500"):
        button.wait_for_log(rf"cmd: config {setting}\b", since=mark)
    assert {k: config_json(button)[k] for k in ("cancel_ms", "cancel_window_s", "taps_ms")} == {
        "cancel_ms": 15000, "cancel_window_s": 60, "taps_ms": 2500}
    print("heap after a gesture config:", heap_after_command(button, mark))
    # with the cancel now at 15 s, a 12 s hold is allowed
    assert answered(stack, send(stack, "config", hold_ms=12000))["status"] == "ok"
    with pytest.raises(RuntimeError, match=r"422: .*cancel_ms 9000 must be above hold_ms 9000"):
        send(stack, "config", hold_ms=9000, cancel_ms=9000)  # the API refuses what it can see is wrong

    # the boot takes what the commands wrote: no fault, no fallback to the last good copy
    mark = button.mark()
    assert answered(stack, send(stack, "reboot"))["status"] == "ok"
    button.wait_for_log(r"config: loaded .*hold_ms=12000", since=mark, timeout=20)
    button.wait_for_indicator("idle", timeout=30)
    assert not [line for line in button.lines[mark:] if "config: invalid" in line]

    # the device checks both values of one command together too (published by hand: the API refuses it)
    peer = MqttListener(stack.broker_config, "gateway", stack.broker_config.gateway_password, [RESULT_TOPIC])
    try:
        before = (button.flash_dir / "config.json").read_bytes()
        peer.publish(CMD_TOPIC, _command(issued["device_key"], 100, "config", {"hold_ms": 9000, "cancel_ms": 9000}))
        _topic, answer = peer.next(15, "/result")
        assert (json.loads(answer)["cseq"], json.loads(answer)["reason"]) == (100, "out_of_range")
        assert (button.flash_dir / "config.json").read_bytes() == before
    finally:
        peer.close()
