"""SMS alerts through the real gateway: emulated modems over ptys, the real broker, a dispatch listener."""

from __future__ import annotations

import json
import queue
from typing import Any

from simulator.stack import MqttListener
from tests.contract import assert_valid
from tests.gateway.scripted import ScriptedDevice
from tests.gateway.sms.conftest import (
    BUTTON_NUMBER,
    GATEWAY_NUMBER,
    SmsWorld,
    alert_text,
    sms_mac,
    wait_until,
)
from tests.gateway.test_bridge import dispatched_alert
from tests.gateway.test_bridge import next_event as bridge_next_event


def next_alert(dispatch: MqttListener, timeout: float = 20.0) -> dict[str, Any]:
    return dispatched_alert(dispatch, timeout)


def next_event(dispatch: MqttListener, timeout: float = 20.0) -> dict[str, Any]:
    """The next event but `unrouted` (the test stores no police stations, so every alert has one), checked."""
    record = bridge_next_event(dispatch, timeout)
    assert_valid("dispatch-event.json", record)
    return record


def check_ack(world: SmsWorld, button: ScriptedDevice, seq: int) -> None:
    """The next SMS to the button is the gateway's signed ack for `seq`, from the gateway's number."""
    sms = world.phone.next_sms()
    assert sms.sender == GATEWAY_NUMBER and sms.alphabet == "gsm7"
    assert sms.text is not None
    signed, mac = sms.text.rsplit(" ", 1)
    parts = signed.split(" ")
    assert parts[:5] == ["PB1", "K", button.id[3:], str(seq), "R"], sms.text
    assert mac == sms_mac(button.key, signed), "the ack SMS is not signed with the device key"


def test_sms_alert_reaches_dispatch_as_sms_and_is_acked_by_signed_sms(
    sms_world: SmsWorld, dispatch: MqttListener, button: ScriptedDevice,
) -> None:
    sms_world.phone.send(alert_text(button.key, button.id, 7))
    record = next_alert(dispatch)
    assert record["alert_id"] == f"{button.id}:7"
    assert record["device"]["network"] == "sms"
    assert record["location"]["lat"] == -5.4291234 and record["location"]["lon"] == 105.2612345
    check_ack(sms_world, button, 7)
    wait_until(lambda: not sms_world.gateway_modem.slots, what="the SMS deleted from the gateway's SIM")
    assert 'panic_sms_alerts_total{verdict="new"} 1' in sms_world.metrics()


def test_each_bad_sms_is_rejected_with_its_reason_and_the_next_valid_one_flows(
    sms_world: SmsWorld, dispatch: MqttListener, button: ScriptedDevice,
) -> None:
    key, dev, net = button.key, button.id, sms_world.network
    other_key = bytes(range(32))
    valid = alert_text(key, dev, 20)
    bad: list[tuple[str, str | None, str]] = []  # (reason, device in the event, what)

    sms_world.phone.send(valid[:-16] + "0123456789abcdef")
    bad.append(("bad_sig", dev, "forged MAC"))
    sms_world.phone.send(alert_text(other_key, dev, 21))
    bad.append(("bad_sig", dev, "signed with another key (wrong device)"))
    sms_world.phone.send(alert_text(key, "pb-000000000001", 22))
    bad.append(("unknown_device", "pb-000000000001", "a device nobody registered"))
    sms_world.phone.send(valid[:60])
    bad.append(("bad_sms", None, "truncated"))
    net.inject(BUTTON_NUMBER, GATEWAY_NUMBER, valid[:80], concat=(9, 2, 1))
    bad.append(("multipart", None, "first part of a concatenated SMS"))
    net.inject(BUTTON_NUMBER, GATEWAY_NUMBER, valid + " \u4f60\u597d", alphabet="ucs2")
    bad.append(("not_gsm7", None, "UCS-2 text"))
    net.inject("+6285799999999", GATEWAY_NUMBER, "Selamat! Anda memenangkan hadiah")
    bad.append(("unknown_number", None, "not the format, from nobody's SIM"))
    for reason, device, what in bad:
        event = next_event(dispatch)
        kind = "unregistered" if reason == "unknown_device" else "rejected"
        assert (event["event"], event["reason"], event["device"]) == (kind, reason, device), what
    sms_world.phone.send(valid)
    record = next_alert(dispatch)
    assert record["alert_id"] == f"{dev}:20"
    check_ack(sms_world, button, 20)
    # The same seq with other content (a captured SMS altered, or a forger's replay of the seq): replay.
    sms_world.phone.send(alert_text(key, dev, 20, "T"))
    event = next_event(dispatch)
    assert (event["event"], event["reason"], event["device"]) == ("rejected", "replay", dev)
    metrics = sms_world.metrics()
    for reason in ("bad_sig", "unknown_device", "bad_sms", "multipart", "not_gsm7", "unknown_number", "replay"):
        assert f'panic_sms_rejected_total{{reason="{reason}"}}' in metrics, reason
        assert f'panic_rejected_total{{reason="{reason}"}}' in metrics, reason
    assert [t for t, _ in dispatch.drain(1.0) if t.endswith("/alerts")] == [], "only the valid SMS is an alert"
    wait_until(lambda: not sms_world.gateway_modem.slots, what="every SMS deleted from the SIM")


def test_sms_then_the_same_alert_over_mqtt_is_dispatched_once(
    sms_world: SmsWorld, dispatch: MqttListener, button: ScriptedDevice,
) -> None:
    sms_world.phone.send(alert_text(button.key, button.id, 5))
    assert next_alert(dispatch)["alert_id"] == f"{button.id}:5"
    check_ack(sms_world, button, 5)
    button.send(button.alert_body(5))  # the link came back: the outbox sends the alert over MQTT too
    ack = button.next_ack()
    assert (ack["ref"], ack["state"]) == (5, "received")
    assert [t for t, _ in dispatch.drain(1.5) if t.endswith("/alerts")] == []
    assert 'panic_alerts_total{verdict="duplicate"} 1' in sms_world.metrics()


def test_mqtt_then_the_same_alert_by_sms_is_a_duplicate_acked_by_sms(
    sms_world: SmsWorld, dispatch: MqttListener, button: ScriptedDevice,
) -> None:
    button.send(button.alert_body(9))
    assert next_alert(dispatch)["alert_id"] == f"{button.id}:9"
    sms_world.phone.send(alert_text(button.key, button.id, 9))
    check_ack(sms_world, button, 9)
    assert [t for t, _ in dispatch.drain(1.5) if t.endswith("/alerts")] == []
    assert 'panic_sms_alerts_total{verdict="duplicate"} 1' in sms_world.metrics()


def test_alert_from_another_number_is_accepted_on_its_mac_and_the_mismatch_reported(
    sms_world: SmsWorld, dispatch: MqttListener, button: ScriptedDevice,
) -> None:
    sms_world.network.inject("+6289912345678", GATEWAY_NUMBER, alert_text(button.key, button.id, 3))
    events = []
    record = None
    while record is None:
        topic, payload = dispatch.next(20.0)
        if topic.endswith("/alerts"):
            record = json.loads(payload)
        else:
            events.append(json.loads(payload))
    assert record["alert_id"] == f"{button.id}:3"
    events += [json.loads(p) for t, p in dispatch.drain(1.0) if t.endswith("/events")]
    mismatch = [e for e in events if e["event"] == "sms_sender_mismatch"]
    assert len(mismatch) == 1 and "+6289912345678" in mismatch[0]["detail"], events
    assert_valid("dispatch-event.json", mismatch[0])
    assert "panic_sms_sender_mismatch_total 1" in sms_world.metrics()


def test_modem_reboot_is_survived(sms_world: SmsWorld, dispatch: MqttListener, button: ScriptedDevice) -> None:
    sms_world.phone.send(alert_text(button.key, button.id, 1))
    assert next_alert(dispatch)["alert_id"] == f"{button.id}:1"
    check_ack(sms_world, button, 1)
    sms_world.gateway_modem.reboot()  # settings lost: PDU mode, +CMTI
    wait_until(lambda: "panic_sms_modem_resets_total" in sms_world.metrics(), what="the reboot noticed")
    sms_world.phone.send(alert_text(button.key, button.id, 2))
    assert next_alert(dispatch)["alert_id"] == f"{button.id}:2"
    check_ack(sms_world, button, 2)


def test_lost_sms_is_no_alert_and_the_resend_gets_through(
    sms_world: SmsWorld, dispatch: MqttListener, button: ScriptedDevice,
) -> None:
    sms_world.network.lose_sms(1)
    text = alert_text(button.key, button.id, 4)
    sms_world.phone.send(text)
    try:
        dispatch.next(1.5, "/alerts")
        raise AssertionError("a lost SMS cannot reach dispatch")
    except queue.Empty:
        pass
    sms_world.phone.send(text)  # the button resends until acked
    assert next_alert(dispatch)["alert_id"] == f"{button.id}:4"
    check_ack(sms_world, button, 4)


def test_gateway_killed_after_reading_an_sms_judges_it_exactly_once_after_restart(
    sms_world: SmsWorld, dispatch: MqttListener, button: ScriptedDevice,
) -> None:
    gateway = sms_world.stack.gateway
    gateway.stop()
    gateway.start(module="tests.gateway.sms.crashing_sms_gateway")
    sms_world.phone.send(alert_text(button.key, button.id, 11))
    assert gateway.process is not None
    assert gateway.process.wait(timeout=30) == -9, "the wrapper kills the gateway once the SMS is stored"
    assert "SMS 1 stored, killing the gateway" in gateway.log()
    assert [t for t, _ in dispatch.drain(0.5) if t.endswith("/alerts")] == [], "killed before the commit"
    assert sms_world.gateway_modem.slots, "still on the SIM: not deleted before the commit"
    gateway.start()
    record = next_alert(dispatch)
    assert record["alert_id"] == f"{button.id}:11"
    check_ack(sms_world, button, 11)
    wait_until(lambda: not sms_world.gateway_modem.slots, what="the SMS deleted once judged")
    assert [t for t, _ in dispatch.drain(1.5) if t.endswith("/alerts")] == [], "judged once, dispatched once"
    metrics = sms_world.metrics()
    assert 'panic_sms_alerts_total{verdict="new"} 1' in metrics
    assert "panic_sms_received_total 1" in metrics, "the SIM's copy was recognised as the stored SMS"


def test_modem_rebooting_in_the_middle_of_reading_an_sms_loses_nothing(
    sms_world: SmsWorld, dispatch: MqttListener, button: ScriptedDevice,
) -> None:
    modem = sms_world.gateway_modem
    modem.stall_next("AT+CMGR")  # the modem hangs on the read ...
    sms_world.phone.send(alert_text(button.key, button.id, 13))
    wait_until(lambda: not modem.stalls, what="the gateway's AT+CMGR")
    modem.reboot()  # ... and its watchdog reboots it: RDY where the gateway waits for +CMGR
    record = next_alert(dispatch)
    assert record["alert_id"] == f"{button.id}:13"
    check_ack(sms_world, button, 13)
    wait_until(lambda: not modem.slots, what="the SMS deleted")
    assert "panic_sms_modem_errors_total 1" in sms_world.metrics(), "the read failed on the reboot (ModemReset)"
