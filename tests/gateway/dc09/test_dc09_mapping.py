"""Contact ID table, account mapping, configuration, DUH parking."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from gateway.dc09 import (
    ConfigError,
    ContactId,
    Dc09Event,
    Dc09Forwarder,
    ReceiverConfig,
    contact_id_for,
    load_receivers,
)
from gateway.dc09.account import AccountError, AccountScheme
from gateway.dc09.contact_id import ZONES
from gateway.dc09.message import Message
from gateway.protocol import CONTACT_ID
from tests.gateway.dc09.harness import KEY_HEX, ScriptedReceiver, wait_until

DEVICE = "pb-3c71bf4a9e10"


def test_contact_id_codes_follow_docs_protocol() -> None:
    table = {
        t: contact_id_for(t).text()
        for t in ("sos", "silent_sos", "cancel", "test", "tamper", "power_lost", "battery_low")
    }
    assert table == {
        "sos": "1120 01 001",
        "silent_sos": "1122 01 001",
        "cancel": "1406 01 001",
        "test": "1601 01 000",
        "tamper": "1137 01 001",
        "power_lost": "1301 01 000",
        "battery_low": "1302 01 000",
    }
    assert [contact_id_for(t, restore=True).text() for t in ("tamper", "power_lost", "battery_low")] == [
        "3137 01 001",
        "3301 01 000",
        "3302 01 000",
    ]
    # The button reports the end of a condition as its own type: the same code as a restore.
    assert {t: contact_id_for(t).text() for t in ("tamper_restored", "power_restored", "battery_restored")} == {
        "tamper_restored": "3137 01 001",
        "power_restored": "3301 01 000",
        "battery_restored": "3302 01 000",
    }
    assert set(ZONES) == set(CONTACT_ID)  # every type of the wire contract has its zone
    for bad in ("sos", "cancel", "test"):
        with pytest.raises(ValueError, match="no restore"):
            contact_id_for(bad, restore=True)
    with pytest.raises(ValueError, match="no Contact ID code"):
        contact_id_for("fire")


def test_account_is_prefix_and_mac_modulo_digits() -> None:
    mac = 0x3C71BF4A9E10
    assert AccountScheme().account_for(DEVICE) == f"{mac % 10**6:06d}"
    assert AccountScheme(prefix="7", digits=5).account_for(DEVICE) == f"7{mac % 10**5:05d}"
    assert AccountScheme(prefix="12", digits=4).gateway_account == "120000"
    with pytest.raises(AccountError):
        AccountScheme().account_for("pb-3C71BF4A9E10")  # device ids are lower case
    with pytest.raises(AccountError):
        AccountScheme(prefix="12345678901", digits=6)
    with pytest.raises(AccountError):
        AccountScheme(prefix="", digits=2)


def test_collisions_are_found_and_overrides_resolve_them() -> None:
    a, b = "pb-000000000001", "pb-0000000f4241"  # 1 and 1,000,001: equal modulo 10^6
    reserved = "pb-0000000f4240"  # 1,000,000 -> 000000, the gateway's account
    scheme = AccountScheme()
    assert scheme.collisions([a, b, reserved, DEVICE]) == {
        "000001": [a, b],
        "000000": ["(gateway)", reserved],
    }
    with pytest.raises(AccountError, match="reserved"):
        scheme.account_for(reserved)
    pinned = AccountScheme(overrides={b: "999999", reserved: "999998"})
    assert pinned.collisions([a, b, reserved]) == {}
    assert (pinned.account_for(b), pinned.account_for(reserved)) == ("999999", "999998")
    consecutive = [f"pb-{0x3C71BF000000 + 4 * n:012x}" for n in range(250_000)]  # ESP32s, 4 MACs apart
    clashes = scheme.collisions(consecutive)
    assert list(clashes) == ["000000"] and len(clashes["000000"]) == 2  # only the one that hits the reserved account


def test_receivers_configuration_and_errors_without_the_key() -> None:
    (receiver,) = load_receivers(
        json.dumps([{"name": "arc-1", "host": "192.0.2.10", "port": 12128, "key": KEY_HEX, "account_prefix": "9"}])
    )
    assert (receiver.transport, receiver.route().text(), receiver.accounts().gateway_account) == (
        "tcp",
        "R1L1",
        "9000000",
    )
    assert receiver.aes_key() is not None and KEY_HEX not in repr(receiver)
    assert load_receivers("") == []
    secret = "C0FFEE" * 5  # 30 hex digits: not a valid AES key length
    cases = {
        json.dumps([{"name": "a", "host": "h", "port": 1, "key": secret}]): "AES key",
        '[{"name": "a", "host": "h", "port": 0}]': "port",
        '[{"name": "a", "host": "h", "port": 1, "colour": "red"}]': "colour",
        '[{"name": "a", "host": "h", "port": 1, "line": "xyz"}]': "line",
        '[{"name": "a", "host": "h", "port": 1, "account_prefix": "ABCDEF1234", "account_digits": 7}]': "16",
        '[{"name": "a", "host": "h", "port": 1}, {"name": "a", "host": "h", "port": 2}]': "unique",
        '{"name": "a"}': "list",
        "[": "not JSON",
    }
    for text, expected in cases.items():
        with pytest.raises(ConfigError, match=expected) as caught:
            load_receivers(text)
        assert secret not in str(caught.value)


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedReceiver]]:
    started: list[ScriptedReceiver] = []

    def start(kind_for: Callable[[Message], str], hang_up: bool = False) -> ScriptedReceiver:
        started.append(ScriptedReceiver(kind_for, hang_up))
        return started[-1]

    yield start
    for receiver in started:
        receiver.stop()


def scripted_config(receiver: ScriptedReceiver) -> ReceiverConfig:
    return ReceiverConfig(
        name="arc", host="127.0.0.1", port=receiver.port, link_test_s=0, retry_initial_s=0.1, retry_max_s=0.5
    )


def test_duh_parks_the_message_and_the_line_moves_on(
    scripted: Callable[..., ScriptedReceiver],
    forwarders: Callable[..., Dc09Forwarder],
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = scripted(lambda message: "DUH" if "|1999 " in message.data else "ACK")
    forwarder = forwarders([scripted_config(receiver)])
    forwarder.submit(Dc09Event("odd", DEVICE, ContactId(1, 999, 1, 1)))
    forwarder.submit(Dc09Event("alert:1", DEVICE, contact_id_for("sos")))
    wait_until(lambda: forwarder.queue.counts("arc") == {"pending": 0, "parked": 1})
    # the sender counts just after committing: wait for the counts, then hold them exact
    wait_until(lambda: forwarder.metrics.get("dc09_delivered_total", receiver="arc") >= 1
               and forwarder.metrics.get("dc09_parked_total", receiver="arc") >= 1)
    assert forwarder.metrics.get("dc09_delivered_total", receiver="arc") == 1
    assert "DUH" in caplog.text
    assert forwarder.metrics.get("dc09_parked_total", receiver="arc") == 1

    assert forwarder.queue.requeue_parked("arc") == 1
    forwarder.submit(Dc09Event("alert:2", DEVICE, contact_id_for("sos")))  # wakes the sender
    wait_until(lambda: forwarder.metrics.get("dc09_delivered_total", receiver="arc") == 2)
    assert forwarder.queue.counts("arc") == {"pending": 0, "parked": 1}
    assert [m.data.split("|")[1][:4] for m in receiver.seen] == ["1999", "1120", "1999", "1120"]


def test_a_receiver_that_hangs_up_after_every_answer_costs_no_retries(
    scripted: Callable[..., ScriptedReceiver], forwarders: Callable[..., Dc09Forwarder]
) -> None:
    receiver = scripted(lambda message: "ACK", hang_up=True)
    forwarder = forwarders([scripted_config(receiver)])
    for n in range(1, 6):
        forwarder.submit(Dc09Event(f"alert:{n}", DEVICE, contact_id_for("sos")))
    wait_until(lambda: forwarder.metrics.get("dc09_delivered_total", receiver="arc") == 5)
    assert forwarder.metrics.get("dc09_retry_total", receiver="arc") == 0
    assert [m.sequence for m in receiver.seen] == [1, 2, 3, 4, 5]


def test_a_device_without_an_account_is_parked_and_the_line_moves_on(
    scripted: Callable[..., ScriptedReceiver],
    forwarders: Callable[..., Dc09Forwarder],
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = scripted(lambda message: "ACK")
    forwarder = forwarders([scripted_config(receiver)])
    reserved = "pb-0000000f4240"  # MAC 1 000 000: the gateway's own account 000000 with 6 digits
    forwarder.submit(Dc09Event("alert:reserved", reserved, contact_id_for("sos")))
    forwarder.submit(Dc09Event("alert:1", DEVICE, contact_id_for("silent_sos")))
    wait_until(lambda: forwarder.metrics.get("dc09_delivered_total", receiver="arc") == 1)
    assert forwarder.queue.counts("arc") == {"pending": 0, "parked": 1}
    assert [m.data.split("|")[1][:4] for m in receiver.seen] == ["1122"]
    assert f"no account for {reserved}" in caplog.text and "reserved" in caplog.text
