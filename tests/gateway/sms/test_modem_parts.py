"""The gateway's modem driver sending a concatenated SMS (gateway/sms/modem.py `send_text`): one AT+CMGS per part,
over a pty to an emulated SIM800L; what the network carried is read back from the emulated network."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.sms.modem import Modem, ModemError
from simulator.modem.emulator import EmulatedModem
from simulator.modem.network import Network

GATEWAY = "+6281100000001"
CONTACT = "+6281377000009"
TEXT = "DARURAT SOS: " + "Toko Emas Sinar Jaya, Jl. Raden Intan No. 12, Bandar Lampung. " * 6  # 3 parts


@pytest.fixture
def network() -> Network:
    return Network()


@pytest.fixture
def driver(network: Network) -> Iterator[tuple[Modem, EmulatedModem]]:
    modem = EmulatedModem(network, GATEWAY, "SIM800L").start()
    assert modem.booted.wait(5)
    driver = Modem.open(modem.path, 115200)
    try:
        driver.setup()
        yield driver, modem
    finally:
        driver.close()
        modem.close()


def joined(network: Network, reference: int) -> str:
    parts = sorted((s.concat[2], s.text) for s in network.sent if s.concat and s.concat[0] == reference)
    return "".join(text for _, text in parts)


def test_each_part_is_its_own_cmgs_and_each_message_its_own_reference(
        driver: tuple[Modem, EmulatedModem], network: Network) -> None:
    modem, emulated = driver
    modem.send_text(CONTACT, TEXT)
    modem.send_text(CONTACT, TEXT)
    assert sum(c.startswith("AT+CMGS=") for c in emulated.received_commands) == 6
    first, second = network.sent[:3], network.sent[3:]
    assert [s.concat[1:] for s in first if s.concat] == [(3, 1), (3, 2), (3, 3)]
    assert first[0].concat and second[0].concat and first[0].concat[0] != second[0].concat[0]
    assert {s.to for s in network.sent} == {CONTACT} and {s.alphabet for s in network.sent} == {"gsm7"}
    assert joined(network, first[0].concat[0]) == TEXT == joined(network, second[0].concat[0])


def test_a_failed_part_fails_the_text_and_the_whole_is_sent_again_under_a_new_reference(
        driver: tuple[Modem, EmulatedModem], network: Network) -> None:
    modem, emulated = driver
    emulated.fail_sms(after=1)  # the first part goes out, the second is refused
    with pytest.raises(ModemError, match=r"part 2 of 3: AT\+CMGS=\d+: \+CMS ERROR: 500"):
        modem.send_text(CONTACT, TEXT)
    assert [s.concat[1:] for s in network.sent if s.concat] == [(3, 1)], "nothing after the failed part"
    modem.send_text(CONTACT, TEXT)  # the notifier's retry
    orphan, *retry = network.sent
    assert orphan.concat and retry[0].concat and orphan.concat[0] != retry[0].concat[0]
    # The phone holds the orphan first part (shown incomplete, or dropped, as the handset does) and the whole text.
    assert joined(network, retry[0].concat[0]) == TEXT and joined(network, orphan.concat[0]) == TEXT[:153]


def test_a_text_that_cannot_be_sent_is_refused_before_any_command(
        driver: tuple[Modem, EmulatedModem], network: Network) -> None:
    modem, emulated = driver
    with pytest.raises(ValueError, match="more than 8"):
        modem.send_text(CONTACT, "a" * 2000)
    assert not any(c.startswith("AT+CMGS") for c in emulated.received_commands) and network.sent == []
