"""Notifications by SMS through the gateway's own modem, end to end: the real gateway (`panic-gateway`) and its
emulated SIM800L; each emergency contact is a phone on the emulated network (an emulated A7670E read over its
pty with the gateway's AT driver), which joins the parts of a concatenated SMS by their headers as a handset does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from gateway.sms import pdu
from gateway.sms.modem import Modem
from simulator.modem.emulator import EmulatedModem
from simulator.stack import MqttListener
from tests.gateway.scripted import ScriptedDevice, new_device_id
from tests.gateway.sms.conftest import GATEWAY_NUMBER, SmsWorld, wait_until
from tests.gateway.sms.test_ingress import next_alert

ADDRESS = "Jl. Raden Intan No. 12, Tanjung Karang, Bandar Lampung"  # GSM-7
# GSM-7 owner and address: a text over 160 septets in either language.
LATIN_OWNER = "Toko Emas Sinar Jaya Cabang Kedua (Peñas, Renée)"
# Not GSM-7 (ş, Chinese, Arabic, an emoji with a surrogate pair): UCS-2, and more than 70 characters.
OTHER_OWNER = "Toko Ayşe 王小明 محمد 🚨"


@dataclass
class Handset:
    number: str
    modem: EmulatedModem
    driver: Modem

    def messages(self) -> list[tuple[str, str, str]]:
        """(sender, alphabet, text) of every whole message on the SIM: parts joined by (sender, reference)."""
        single, parts = [], {}
        for _, hex_pdu in self.driver.list_all():
            got = pdu.decode_deliver(hex_pdu)
            assert got.text is not None
            if got.concat is None:
                single.append((got.sender, got.alphabet, got.text))
            else:
                reference, total, part = got.concat
                parts.setdefault((got.sender, reference, total), {})[part] = (got.alphabet, got.text)
        for (sender, _, total), pieces in parts.items():
            if sorted(pieces) == list(range(1, total + 1)):
                assert len({alphabet for alphabet, _ in pieces.values()}) == 1
                single.append((sender, pieces[1][0], "".join(pieces[i][1] for i in range(1, total + 1))))
        return single

    def parts(self) -> list[tuple[int, int, int] | None]:
        return [pdu.decode_deliver(hex_pdu).concat for _, hex_pdu in self.driver.list_all()]


@pytest.fixture
def handsets(sms_world: SmsWorld) -> Iterator[dict[str, Handset]]:
    made: dict[str, Handset] = {}
    try:
        for lang, number in (("en", "+6281377000001"), ("id", "+6281377000002")):
            modem = EmulatedModem(sms_world.network, number, "A7670E").start()
            assert modem.booted.wait(5)
            driver = Modem.open(modem.path, 115200)
            made[lang] = Handset(number, modem, driver)
            driver.setup()
        yield made
    finally:
        for handset in made.values():
            handset.driver.close()
            handset.modem.close()


def owner(name: str, handsets: dict[str, Handset]) -> dict[str, object]:
    spaced = {lang: f"{h.number[:3]} {h.number[3:6]} {h.number[6:10]} {h.number[10:]}" for lang, h in handsets.items()}
    return {"name": name, "phone": "+62 721 555 0101",
            "emergency_contacts": [{"name": "Ann", "phone": spaced["en"], "lang": "en"},
                                   {"name": "Budi", "phone": spaced["id"], "lang": "id"}],
            "premises": [{"kind": "shop", "address": ADDRESS, "lat": "-5.4291234", "lon": "105.2612345"}]}


def alert_notified(world: SmsWorld, dispatch: MqttListener, handsets: dict[str, Handset], name: str) -> dict[str, str]:
    """An SOS from a button whose owner is `name`; the texts each contact's phone put together."""
    device = ScriptedDevice(world.stack, new_device_id(), owner=owner(name, handsets))
    try:
        device.send(device.alert_body(1))
        alert_id: str = next_alert(dispatch)["alert_id"]
    finally:
        device.mqtt.close()
    got: dict[str, list[tuple[str, str, str]]] = {}

    def whole() -> bool:
        got.update({lang: h.messages() for lang, h in handsets.items()})
        return all(got.values())

    wait_until(whole, timeout=60, what="each contact's phone to have a whole message")
    log = world.stack.gateway.request("GET", f"/alerts/{alert_id}/notifications")
    assert sorted((n["lang"], n["state"], n["attempts"]) for n in log) == [("en", "sent", 1), ("id", "sent", 1)]
    texts = {}
    for lang, messages in got.items():
        assert len(messages) == 1, messages
        sender, alphabet, text = messages[0]
        assert sender == GATEWAY_NUMBER
        assert alphabet == ("gsm7" if name == LATIN_OWNER else "ucs2")
        assert len(handsets[lang].parts()) > 1, "a text this long is more than one SMS"
        assert text.endswith(f". Ref {alert_id}"), text
        texts[lang] = text.removesuffix(f". Ref {alert_id}")
    return texts


WHERE = "-5.4291234,105.2612345"  # the premises' (the alert carries no fix); no stations stored: none assigned


def test_a_long_alert_text_reaches_each_contact_whole_in_their_language(
        sms_world: SmsWorld, dispatch: MqttListener, handsets: dict[str, Handset]) -> None:
    texts = alert_notified(sms_world, dispatch, handsets, LATIN_OWNER)
    assert texts == {"en": f"EMERGENCY SOS: {LATIN_OWNER}, {ADDRESS}. Location {WHERE}. Police: not yet assigned",
                     "id": f"DARURAT SOS: {LATIN_OWNER}, {ADDRESS}. Lokasi {WHERE}. Polisi: belum ditentukan"}
    references = {c[0] for h in handsets.values() for c in h.parts() if c}
    assert len(references) == 2, "each message has its own reference"


def test_an_owner_name_outside_gsm7_is_sent_as_ucs2_parts(
        sms_world: SmsWorld, dispatch: MqttListener, handsets: dict[str, Handset]) -> None:
    texts = alert_notified(sms_world, dispatch, handsets, OTHER_OWNER)
    assert texts == {"en": f"EMERGENCY SOS: {OTHER_OWNER}, {ADDRESS}. Location {WHERE}. Police: not yet assigned",
                     "id": f"DARURAT SOS: {OTHER_OWNER}, {ADDRESS}. Lokasi {WHERE}. Polisi: belum ditentukan"}
