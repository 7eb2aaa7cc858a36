"""The states police set, texted to a button whose alert came by SMS (gateway/sms/acks.py): the real gateway,
its modem and the button's emulated, over ptys; police act through the API."""

from __future__ import annotations

import queue

import pytest

from simulator.stack import MqttListener
from tests.gateway.scripted import ScriptedDevice
from tests.gateway.sms.conftest import GATEWAY_NUMBER, SmsWorld, alert_text, sms_mac, wait_until
from tests.gateway.sms.test_ingress import check_ack, next_alert

POLICE = {"by": "Polsek Tanjung Karang, desk 2", "note": "unit 7"}


def police(world: SmsWorld, alert_id: str, state: str) -> None:
    world.stack.gateway.request("POST", f"/alerts/{alert_id}/ack", {"state": state, **POLICE})


def state_sms(world: SmsWorld, button: ScriptedDevice, seq: int, letter: str) -> None:
    """The next SMS to the button is the gateway's signed ack for `seq` in the state `letter` stands for."""
    sms = world.phone.next_sms()
    assert sms.sender == GATEWAY_NUMBER and sms.text is not None
    signed, mac = sms.text.rsplit(" ", 1)
    assert signed.split(" ")[:5] == ["PB1", "K", button.id[3:], str(seq), letter], sms.text
    assert mac == sms_mac(button.key, signed), "not signed with the device key"


def no_sms(world: SmsWorld, wait: float = 2.5) -> None:
    with pytest.raises(queue.Empty):
        world.phone.next_sms(timeout=wait)


def test_each_state_police_set_is_texted_once_signed_beside_the_mqtt_ack(
    sms_world: SmsWorld, dispatch: MqttListener, button: ScriptedDevice,
) -> None:
    sms_world.phone.send(alert_text(button.key, button.id, 7))
    alert_id = next_alert(dispatch)["alert_id"]
    check_ack(sms_world, button, 7)
    police(sms_world, alert_id, "acknowledged")
    state_sms(sms_world, button, 7, "A")
    police(sms_world, alert_id, "acknowledged")  # a retried acknowledgement: nothing new
    no_sms(sms_world)
    police(sms_world, alert_id, "false_alarm")
    state_sms(sms_world, button, 7, "F")
    # the MQTT acks go out as before (the button's session keeps them for when data is back)
    states = [button.next_ack()["state"] for _ in range(4)]
    assert states == ["received", "acknowledged", "acknowledged", "false_alarm"]  # a retry tells it again
    metrics = sms_world.metrics()
    assert 'panic_sms_state_acks_total{state="acknowledged"} 1' in metrics
    assert 'panic_sms_state_acks_total{state="false_alarm"} 1' in metrics


def test_an_alert_that_came_over_mqtt_only_gets_no_state_sms(
    sms_world: SmsWorld, dispatch: MqttListener, button: ScriptedDevice,
) -> None:
    button.send(button.alert_body(4))
    alert_id = next_alert(dispatch)["alert_id"]
    police(sms_world, alert_id, "acknowledged")
    assert button.next_ack()["state"] == "received"
    assert button.next_ack()["state"] == "acknowledged"
    no_sms(sms_world)
    assert "panic_sms_state_acks_total" not in sms_world.metrics()


def test_a_repeat_by_sms_of_an_alert_police_answered_already_gets_the_state_it_is_in(
    sms_world: SmsWorld, dispatch: MqttListener, button: ScriptedDevice,
) -> None:
    # Over MQTT first and acknowledged; then the button, its data gone before the acks came, texts it.
    button.send(button.alert_body(9))
    alert_id = next_alert(dispatch)["alert_id"]
    police(sms_world, alert_id, "acknowledged")
    sms_world.phone.send(alert_text(button.key, button.id, 9))
    check_ack(sms_world, button, 9)
    state_sms(sms_world, button, 9, "A")
    police(sms_world, alert_id, "dispatched")
    state_sms(sms_world, button, 9, "D")
    sms_world.phone.send(alert_text(button.key, button.id, 9))  # once more: received again, no state again
    check_ack(sms_world, button, 9)
    no_sms(sms_world)


def test_a_failing_modem_is_counted_and_retried_and_never_holds_police_up(
    sms_world: SmsWorld, dispatch: MqttListener, button: ScriptedDevice,
) -> None:
    sms_world.phone.send(alert_text(button.key, button.id, 3))
    alert_id = next_alert(dispatch)["alert_id"]
    check_ack(sms_world, button, 3)
    sms_world.gateway_modem.set_registration("off")  # +CMS ERROR: 331 (no network service) for every send
    police(sms_world, alert_id, "acknowledged")
    assert sms_world.stack.gateway.request("GET", f"/alerts/{alert_id}")["state"] == "acknowledged"
    wait_until(lambda: 'panic_sms_state_ack_failures_total{state="acknowledged"}' in sms_world.metrics(),
               what="the failure counted")
    assert "state SMS acknowledged for alert" in sms_world.stack.gateway.log()
    sms_world.gateway_modem.set_registration("home")
    state_sms(sms_world, button, 3, "A")  # on the back-off (notify_retry_s, 5 s)
    metrics = sms_world.metrics()
    assert 'panic_sms_state_acks_total{state="acknowledged"} 1' in metrics
