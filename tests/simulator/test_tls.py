"""A simulated button on TLS: the real firmware (compiled, 110 KB heap), the project's Mosquitto with its
TLS listener and development CA, the real gateway, a dispatch subscriber.

The gateway and dispatch stay on the broker's plain listener (same host; docs/operations.md, *TLS*).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker import tls
from simulator.button import SimulatedButton
from simulator.stack import MqttListener, Stack

DEVICE = "pb-7150c0ffee01"
FAST = {"reconnect_min_ms": 100, "reconnect_max_ms": 1000, "hold_ms": 1500}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with Stack(tmp_path, tls=True) as running:
        yield running


def provision(stack: Stack, tmp_path: Path, ca_der: Path) -> SimulatedButton:
    issued = stack.register_button(DEVICE)
    port = stack.broker_config.tls_port
    assert port is not None
    flash = tmp_path / "flash"
    SimulatedButton.provision(flash, device_id=DEVICE, device_key_hex=issued["device_key"],
                              mqtt_password=issued["mqtt_password"], brokers=[("localhost", port, True)],
                              ca_der=ca_der, **FAST)
    return SimulatedButton(flash, log_file=tmp_path / "button.log")


def dispatched(dispatch: MqttListener, timeout: float = 30) -> dict[str, object]:
    _topic, payload = dispatch.next(timeout=timeout, topic_suffix="/alerts")
    record: dict[str, object] = json.loads(payload)
    return record


def test_an_alert_over_tls_reaches_dispatch(stack: Stack, tmp_path: Path) -> None:
    assert stack.broker_config.ca_der is not None
    dispatch = stack.dispatch()
    button = provision(stack, tmp_path, stack.broker_config.ca_der)
    button.start()
    try:
        button.wait_for_indicator("idle", timeout=30)
        button.wait_for_log(rf"link: connected host=mqtts://localhost port={stack.broker_config.tls_port} ")
        button.press(2000)
        seq = int(button.wait_for_log(r"outbox: stored seq=(\d+) ").group(1))
        assert dispatched(dispatch)["alert_id"] == f"{DEVICE}:{seq}"
        button.wait_for_indicator("received", timeout=30)
        button.wait_for_log(rf"mem: acked seq={seq} ")
        memory = button.memory()
        print(f"\nheap of a TLS button after an acked alert: {memory}; now: {button.heap()}")
        assert button.outbox() == []
    finally:
        button.stop()
        dispatch.close()


def test_a_wrong_ca_is_refused_and_the_alert_waits_in_the_outbox_for_the_right_one(
    stack: Stack, tmp_path: Path
) -> None:
    other = tls.ensure(tmp_path / "another-ca")  # a CA the broker's certificate does not come from
    assert other.ca_der is not None and stack.broker_config.ca_der is not None
    dispatch = stack.dispatch()
    button = provision(stack, tmp_path, other.ca_der)
    button.start()
    try:
        button.wait_for_log(r'^E \d+ tls: handshake failed host=mqtts://localhost port=\d+ '
                            r'err="The certificate is not correctly signed by the trusted CA"$', timeout=30)
        button.press(2000)
        seq = int(button.wait_for_log(r"outbox: stored seq=(\d+) .*persisted=1", timeout=15).group(1))
        mark = button.mark()
        button.wait_for_log(r"tls: handshake failed", since=mark, timeout=30)  # still refused, still retrying
        assert button.indicator == "sending" and len(button.outbox()) == 1
        assert [t for t, _ in dispatch.drain(1.0) if t.endswith("/alerts")] == [], "nothing got through"
        assert "link: connected" not in "\n".join(button.lines)
        button.stop()
        shutil.copyfile(stack.broker_config.ca_der, button.flash_dir / "ca.der")  # the technician's fix
        button.start()
        assert dispatched(dispatch)["alert_id"] == f"{DEVICE}:{seq}"
        button.wait_for_indicator("received", timeout=30)
        assert button.outbox() == []
    finally:
        button.stop()
        dispatch.close()
