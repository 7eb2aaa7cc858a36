"""The forwarder against pysiaalarm, a real and independent DC-09 receiver in its own process."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.dc09 import Dc09Event, Dc09Forwarder, contact_id_for
from gateway.dc09.account import AccountScheme
from tests.gateway.dc09.harness import KEY_HEX, PYSIA_KEY, PysiaReceiver, receiver_config

DEVICE = "pb-3c71bf4a9e10"
ACCOUNT = AccountScheme().account_for(DEVICE)
GATEWAY_ACCOUNT = AccountScheme().gateway_account

# (type, restore) -> (Contact ID code, qualifier, zone/user, pysiaalarm's SIA code for it)
EVENTS = [
    ("sos", False, "120", "1", "001", "PA"),
    ("silent_sos", False, "122", "1", "001", "HA"),
    ("cancel", False, "406", "1", "001", "OC"),
    ("test", False, "601", "1", "000", "RX"),
    ("tamper", False, "137", "1", "001", "TA"),
    ("tamper", True, "137", "3", "001", "TR"),
    ("power_lost", False, "301", "1", "000", "AT"),
    ("power_lost", True, "301", "3", "000", "AR"),
    ("battery_low", False, "302", "1", "000", "YT"),
    ("battery_low", True, "302", "3", "000", "YR"),
]


def event(n: int, alert_type: str = "sos", restore: bool = False, device: str = DEVICE) -> Dc09Event:
    return Dc09Event(f"alert:{device}:{n}", device, contact_id_for(alert_type, restore))


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "aes"])
def test_every_type_arrives_with_its_code_and_account(
    receivers: Callable[..., PysiaReceiver],
    forwarders: Callable[..., Dc09Forwarder],
    protocol: str,
    encrypted: bool,
) -> None:
    receiver = receivers([ACCOUNT], protocol=protocol, key=PYSIA_KEY if encrypted else None)
    forwarder = forwarders([receiver_config(receiver, key=KEY_HEX if encrypted else None)])
    for n, (alert_type, restore, *_) in enumerate(EVENTS, start=1):
        assert forwarder.submit(event(n, alert_type, restore)) == 1

    got = receiver.take(len(EVENTS))
    assert [(e["event_type"], e["qualifier"], e["ri"], e["code"]) for e in got] == [
        (code, qualifier, zone, sia) for _, _, code, qualifier, zone, sia in EVENTS
    ]
    assert {(e["account"], e["partition"], e["encrypted"], e["receiver"], e["line"]) for e in got} == {
        (ACCOUNT, "01", encrypted, "R1", "L1")
    }
    assert [int(e["sequence"]) for e in got] == list(range(1, len(EVENTS) + 1))
