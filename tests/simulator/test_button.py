"""End to end: the real firmware in the simulator, a real Mosquitto, a paho stand-in for the gateway.

Every wait has a generous timeout; nothing asserts on wall-clock time.
"""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Callable
from pathlib import Path

from simulator.button import SimulatedButton
from tests.conftest import BrokerUnderTest
from tests.simulator.conftest import Account
from tests.simulator.gateway import Gateway, retained_status

MakeButton = Callable[..., SimulatedButton]


def test_press_sends_a_signed_alert_and_follows_the_acks(make_button: MakeButton, gateway: Gateway) -> None:
    button = make_button()
    button.wait_for_indicator("idle")
    before = int(time.time())
    button.press(2500)
    alert = gateway.expect("alert")
    body = gateway.verified(alert)
    up = body.pop("up")
    ts = body.pop("ts")
    sig = body.pop("sig")
    assert body == {"v": 1, "dev": gateway.device_id, "seq": body["seq"], "type": "sos", "loc": None,
                    "bat": None, "pwr": "mains", "net": "wifi", "rssi": -55}
    assert isinstance(body["seq"], int) and body["seq"] >= 1
    assert isinstance(up, int) and up > 0 and len(sig) == 64
    assert before - 5 <= ts <= int(time.time()) + 5  # the host's clock, in Unix seconds
    assert len(button.outbox()) == 1
    assert button.outbox()[0].read_bytes() == alert.topic.encode() + b"\n" + alert.payload

    # A forged ack (not signed with the device key) changes nothing.
    mark = button.mark()
    gateway.ack(body["seq"], key=b"\x00" * 32)
    button.wait_for_log(r"^W \d+ ack: rejected reason=bad_sig bad_sig=1", since=mark)
    assert button.indicator == "sending" and len(button.outbox()) == 1

    gateway.ack(body["seq"], "received")
    button.wait_for_indicator("received")
    button.wait_for_log(rf"ack: delivered seq={body['seq']} state=received")
    assert button.outbox() == []
    gateway.ack(body["seq"], "acknowledged")
    button.wait_for_indicator("acknowledged")
    # officers dispatched: "on the way" (a pattern of its own); on scene still shows it; the end of
    # the alert puts the LED back to idle
    gateway.ack(body["seq"], "dispatched")
    button.wait_for_indicator("on_the_way")
    mark = button.mark()
    gateway.ack(body["seq"], "on_scene")
    button.wait_for_log(rf"ack: state seq={body['seq']} state=on_scene", since=mark)
    assert button.indicator == "on_the_way"
    gateway.ack(body["seq"], "resolved")
    button.wait_for_indicator("idle")


def test_unacked_alert_is_retransmitted_with_the_same_bytes(make_button: MakeButton, gateway: Gateway) -> None:
    button = make_button(retry_min_ms=200, retry_max_ms=400)
    button.wait_for_indicator("idle")
    button.press(2300)
    copies = [gateway.expect("alert") for _ in range(4)]
    assert len({c.payload for c in copies}) == 1, "every retransmission must be byte-identical"
    seq = gateway.verified(copies[0])["seq"]
    button.wait_for_log(rf"delivery: sent seq={seq} try=4 next_ms=400")  # doubled, then capped
    gateway.ack(seq)
    button.wait_for_indicator("received")
    assert button.outbox() == []


def test_alert_survives_a_kill_and_is_resent_after_restart(make_button: MakeButton, gateway: Gateway) -> None:
    button = make_button(retry_min_ms=60000)
    button.wait_for_indicator("idle")
    button.press(2300)
    first = gateway.expect("alert")
    seq = gateway.verified(first)["seq"]
    button.kill()  # power cut: no goodbye, nothing flushed
    [entry] = button.outbox()
    assert entry.read_bytes() == first.topic.encode() + b"\n" + first.payload

    button.start()
    button.wait_for_log(r"outbox: loaded entries=1")
    again = gateway.expect("alert")
    assert again.payload == first.payload  # same seq, same bytes: the gateway sees a duplicate
    hb = gateway.verified(gateway.expect("hb"))
    assert hb["seq"] > seq  # the counter never goes back
    gateway.ack(seq)
    button.wait_for_indicator("received")
    assert button.outbox() == []


def test_reconnects_by_itself_after_a_broker_restart(
    make_button: MakeButton, gateway: Gateway, broker: BrokerUnderTest
) -> None:
    button = make_button()
    button.wait_for_indicator("idle")
    mark = button.mark()
    broker.stop()
    button.wait_for_log(r"link: disconnected", since=mark)
    button.wait_for_indicator("fault")  # idle with no link is a fault
    broker.start()
    button.wait_for_log(r"link: connected", since=mark, timeout=30)
    button.wait_for_indicator("idle")
    button.press(2300)
    seq = gateway.verified(gateway.expect("alert", timeout=30))["seq"]
    gateway.ack(seq)
    button.wait_for_indicator("received")


def test_birth_and_will_are_retained(make_button: MakeButton, broker: BrokerUnderTest, account: Account) -> None:
    button = make_button()
    button.wait_for_indicator("idle")
    online = retained_status(broker.host, broker.port, broker.config.gateway_password, account.id)
    body = online.json()
    assert online.retain and body["state"] == "online" and body["fw"] == "0.1.0" and isinstance(body["up"], int)
    button.kill()
    deadline = time.monotonic() + 15
    while True:  # the broker publishes the will once it notices the dropped connection
        status = retained_status(broker.host, broker.port, broker.config.gateway_password, account.id)
        if status.json() == {"state": "offline"} or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status.retain and status.json() == {"state": "offline"}


def test_heartbeats_are_signed_with_increasing_seq(make_button: MakeButton, gateway: Gateway) -> None:
    make_button(heartbeat_s=1)
    beats = [gateway.verified(gateway.expect("hb")) for _ in range(3)]
    seqs = [b["seq"] for b in beats]
    assert seqs == sorted(set(seqs)), seqs
    for b in beats:
        assert set(b) == {"v", "dev", "seq", "ts", "up", "bat", "pwr", "net", "rssi", "ep", "sig"}
        assert b["ep"] == 0  # its one endpoint
        assert (b["v"], b["dev"], b["pwr"], b["net"], b["rssi"]) == (1, gateway.device_id, "mains", "wifi", -55)


def test_a_bump_raises_nothing(make_button: MakeButton) -> None:
    button = make_button()
    button.wait_for_indicator("idle")
    button.press(100)
    button.wait_for_log(r"button: ignored short press")
    button.pattern([15, 10] * 60 + [15])  # a chattering contact, 1.5 s
    button.wait_for_log(r"button: down")
    assert not any("alert: raised" in line for line in button.lines)
    assert button.outbox() == []


def test_a_long_chatter_is_played_whole(make_button: MakeButton) -> None:
    """801 levels in one `pattern` command: the virtual hardware plays them as they come.

    Parsed whole into a list (and the split strings before it), a pattern this
    long needed more heap than the running firmware leaves (MemoryError in
    vhal, and the command never completed).
    """
    button = make_button()
    button.wait_for_indicator("idle")
    mark = button.mark()
    # A contact chattering for 2.8 s. Not [3, 2]: a 5 ms period divides the firmware's 10 ms poll,
    # so every poll reads the same phase and the chatter aliases into steady levels - which the
    # taps gesture (three presses in 3 s) then takes for deliberate presses (docs/firmware.md).
    button.pattern([3, 4] * 400 + [3])
    assert button.running and not any("Error" in line for line in button.lines[mark:])
    assert not any("alert: raised" in line for line in button.lines)
    assert button.outbox() == []


def test_missing_configuration_is_a_fault_and_no_secret_is_printed(
    make_button: MakeButton, account: Account
) -> None:
    button = make_button(start=False)
    (button.flash_dir / "config.json").unlink()  # secrets.json stays: it must not leak either
    button.start()
    button.wait_for_indicator("fault")
    button.wait_for_log(r'^E \d+ config: invalid reason="config.json missing"')
    button.wait_for_log(r"supervisor: started")
    time.sleep(1.5)  # no crash loop: it stays up, in fault
    assert button.running and button.reboots == 0
    log = "\n".join(button.lines)
    assert account.key_hex not in log.lower() and account.password not in log


def test_heap_after_an_acked_alert(make_button: MakeButton, gateway: Gateway) -> None:
    button = make_button()
    button.wait_for_indicator("idle")
    button.press(2300)
    seq = gateway.verified(gateway.expect("alert"))["seq"]
    gateway.ack(seq)
    button.wait_for_log(rf"mem: acked seq={seq} ")
    memory = button.memory()
    print(f"heap after an acked alert: {memory}; now: {button.heap()}")
    data_peak = memory["peak"] - memory["code"]
    assert data_peak < 48 * 1024, f"the firmware's data needs {data_peak} B at its peak: over the 48 KB budget"
    assert memory["free"] > 16 * 1024, f"only {memory['free']} B of the 110 KB heap left"


def test_watchdog_resets_a_stalled_button_and_it_boots_again(make_button: MakeButton) -> None:
    button = make_button(wdt_ms=2000)
    button.wait_for_indicator("idle")
    mark = button.mark()
    button.stall(3500)  # nothing runs, nothing feeds the watchdog
    button.wait_for_log(r"^E \d+ sim: reset why=watchdog", since=mark)
    button.wait_for_log(r"app: starting", since=mark)
    assert button.reboots == 1
    button.wait_for_indicator("idle")


def test_reprovisioning_leaves_the_secrets_private(tmp_path: Path) -> None:
    """secrets.json holds the device key and broker password: provisioning a flash dir again (new
    key after a rotation) leaves it readable by its owner only, whatever mode it had."""
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text("{}")
    secrets_file.chmod(0o644)
    SimulatedButton.provision(tmp_path, device_id="pb-0123456789ab", device_key_hex="ab" * 32,
                              mqtt_password="pw", broker_host="127.0.0.1", broker_port=1, board_file=None)
    assert json.loads(secrets_file.read_text())["device_key"] == "ab" * 32
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
