"""The modem emulator's AT dialogue over a real pty, spoken with pyserial as a client would.

Both variants of hardware/modems.py that the emulator plays; what differs
between them comes from simulator/modem/variants.py, and the tests say
which behaviour is the variant's.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import serial

from gateway.sms import pdu
from simulator.modem.emulator import EmulatedModem
from simulator.modem.network import Network
from simulator.modem.variants import VARIANTS

A, B = "+6281100000001", "+6281200000002"


class Client:
    """A raw AT client on the pty: write a line, read lines up to a final result."""

    def __init__(self, modem: EmulatedModem) -> None:
        """Opens the port, then powers the modem on, so its boot URCs are read (opening flushes the input)."""
        self.port = serial.Serial(modem.path, 115200, timeout=0.1)
        self.buffer = b""
        modem.start()

    def lines(self, until: tuple[str, ...] = ("OK", "ERROR", "NO CARRIER", "CONNECT"), timeout: float = 5.0,
              prompt: bool = False) -> list[str]:
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.buffer += self.port.read(256)
            if prompt and self.buffer.lstrip().startswith(b">"):
                self.buffer = b""
                return out
            while b"\r\n" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\r\n", 1)
                line = raw.decode("latin-1").strip()
                if not line:
                    continue
                out.append(line)
                if line.startswith(until) or "ERROR" in line:
                    return out
        raise AssertionError(f"no final result; got {out}")

    def at(self, command: str, **kwargs: object) -> list[str]:
        self.port.write(command.encode() + b"\r")
        got = self.lines(**kwargs)  # type: ignore[arg-type]
        return [line for line in got if line != command]  # the echo

    def close(self) -> None:
        self.port.close()


@pytest.fixture
def network() -> Network:
    return Network()


@pytest.fixture(params=sorted(VARIANTS))
def modem(request: pytest.FixtureRequest, network: Network) -> Iterator[EmulatedModem]:
    m = EmulatedModem(network, A, request.param)
    yield m
    m.close()


@pytest.fixture
def client(modem: EmulatedModem) -> Iterator[Client]:
    c = Client(modem)
    c.lines(until=tuple(modem.variant.boot_urcs[-1:]))  # the boot URCs, to the last
    yield c
    c.close()


def test_identity_signal_and_registration_per_variant(modem: EmulatedModem, client: Client) -> None:
    assert client.at("ATE0") == ["OK"]
    assert client.at("AT+CGMM") == [modem.variant.model, "OK"]
    assert client.at("AT+CSQ") == ["+CSQ: 20,99", "OK"]
    assert client.at("AT+CREG?") == ["+CREG: 0,1", "OK"]
    lte = "CEREG" in modem.variant.registration
    assert client.at("AT+CEREG?") == (["+CEREG: 0,1", "OK"] if lte else ["ERROR"])
    assert (modem.variant.model == "A7670E") == lte, "only the LTE modem answers +CEREG"


def test_registration_lost_denied_and_urcs(modem: EmulatedModem, client: Client) -> None:
    client.at("ATE0")
    assert client.at("AT+CREG=1") == ["OK"]
    modem.set_registration("denied")
    assert client.lines(until=("+CREG",)) == ["+CREG: 3"]
    assert client.at("AT+CSQ") == ["+CSQ: 99,99", "OK"]
    assert client.at("ATD*99#") == ["NO CARRIER"], "no data without registration"
    modem.set_registration("home")
    assert client.lines(until=("+CREG",)) == ["+CREG: 1"]


def test_data_session_connect_escape_resume_and_no_carrier(
        modem: EmulatedModem, client: Client, network: Network) -> None:
    client.at("ATE0")
    assert client.at('AT+CGDCONT=1,"IP","internet"') == ["OK"]
    assert client.at("AT+CGDCONT?") == ['+CGDCONT: 1,"IP","internet"', "OK"]
    assert client.at("ATD*99#")[0].startswith("CONNECT")
    client.port.write(b"\x7e\xff\x03 PPP bytes are swallowed \x7e")
    time.sleep(1.0)  # the guard time before +++ (ITU-T V.250), as a real client must wait
    client.port.write(b"+++")
    assert client.lines() == ["OK"], "+++ returns to command mode"
    assert client.at("AT+CSQ")[-1] == "OK"
    assert client.at("ATO") == ["CONNECT"]
    modem.set_registration("searching")
    assert client.lines(until=("NO CARRIER",)) == ["NO CARRIER"]
    modem.set_registration("home")
    network.refuse_data = True
    assert client.at("ATD*99#") == ["NO CARRIER"], "the network refuses data"


def test_sim_missing_and_pin(network: Network) -> None:
    missing = EmulatedModem(network, A, "SIM800L", sim="missing")
    locked = EmulatedModem(network, B, "A7670E", sim="pin", pin="4321")
    a, b = Client(missing), Client(locked)
    try:
        assert "+CPIN: NOT INSERTED" in a.lines(until=("SMS Ready",))
        assert a.at("AT+CPIN?") == ["+CME ERROR: 10"]
        assert "+CPIN: SIM PIN" in b.lines(until=("PB DONE",))
        b.at("ATE0")
        assert b.at("AT+CPIN?") == ["+CPIN: SIM PIN", "OK"]
        assert b.at("AT+CSQ") == ["+CSQ: 99,99", "OK"], "not registered while locked"
        assert b.at('AT+CPIN="1111"') == ["+CME ERROR: 16"], "wrong PIN"
        assert b.at('AT+CPIN="4321"') == ["OK"]
        assert b.at("AT+CPIN?")[-2:] == ["+CPIN: READY", "OK"]
    finally:
        a.close()
        b.close()
        missing.close()
        locked.close()


@pytest.fixture(params=[("SIM800L", "A7670E"), ("A7670E", "SIM800L")], ids=["2g-to-lte", "lte-to-2g"])
def pair(request: pytest.FixtureRequest, network: Network) -> Iterator[tuple[Client, Client, EmulatedModem]]:
    """Two booted modems on the network, A sending to B: (A's client, B's client, B)."""
    sender = EmulatedModem(network, A, request.param[0])
    receiver = EmulatedModem(network, B, request.param[1])
    s, r = Client(sender), Client(receiver)
    try:
        s.lines(until=(sender.variant.boot_urcs[-1],))
        r.lines(until=(receiver.variant.boot_urcs[-1],))
        yield s, r, receiver
    finally:
        s.close()
        r.close()
        sender.close()
        receiver.close()


def test_sms_text_mode_between_modems_with_cmti_cmgr_cmgd(pair: tuple[Client, Client, EmulatedModem]) -> None:
    s, r, _receiver = pair
    for c in (s, r):
        c.at("ATE0")
        assert c.at("AT+CMGF=1") == ["OK"]
    assert r.at("AT+CNMI=2,1,0,0,0") == ["OK"]
    assert s.at(f'AT+CMGS="{B}"', prompt=True) == []
    s.port.write(b"PB1 hello\x1a")
    assert s.lines()[0].startswith("+CMGS:")
    assert r.lines(until=("+CMTI",)) == ['+CMTI: "SM",0']
    got = r.at("AT+CMGR=0")
    assert got[0].startswith(f'+CMGR: "REC UNREAD","{A}"') and got[1:] == ["PB1 hello", "OK"]
    assert r.at("AT+CMGD=0") == ["OK"]
    assert r.at("AT+CMGL=\"ALL\"") == ["OK"], "deleted"


def test_sms_pdu_mode_lost_sms_and_reboot_keeps_the_sim(
        pair: tuple[Client, Client, EmulatedModem], network: Network) -> None:
    s, r, receiver = pair
    s.at("ATE0")
    hex_pdu, length = pdu.encode_submit(B, "first")
    network.lose_sms(1)
    for _ in range(2):
        assert s.at(f"AT+CMGS={length}", prompt=True) == []
        s.port.write(hex_pdu.encode() + b"\x1a")
        assert s.lines()[0].startswith("+CMGS:"), "accepted, even the one the network loses"
    assert len(network.sent) == 2 and len(receiver.slots) == 1
    receiver.reboot()
    assert r.lines(until=(receiver.variant.boot_urcs[-1],)) == list(receiver.variant.boot_urcs)
    r.at("ATE0")
    listed = r.at("AT+CMGL=4")
    assert listed[0].startswith("+CMGL: 0,0,,") and listed[-1] == "OK"
    assert pdu.decode_deliver(listed[1]).text == "first"


def test_unknown_command_is_error_and_reboot_command_per_variant(modem: EmulatedModem, client: Client) -> None:
    client.at("ATE0")
    assert client.at("AT+FOO") == ["ERROR"]
    client.port.write(modem.variant.reboot[0].encode() + b"\r")
    got = client.lines(until=(modem.variant.boot_urcs[-1],))
    assert got[0] == "OK" and got[1:] == list(modem.variant.boot_urcs)


def test_cli_prints_the_ptys_and_takes_commands() -> None:
    commands = "reg +6281200000002 denied\nlist\nreg +999 home\nfly\nlose x\nquit\nlist\n"
    done = subprocess.run([sys.executable, "-m", "simulator.cli", "modem", "--modem", "+6281100000001:SIM800L",
                           "--modem", "+6281200000002"], input=commands, capture_output=True, text=True,
                          timeout=30, check=True)
    out = done.stdout.splitlines()
    assert out[0].startswith("modem +6281100000001 SIM800L on /dev/pts/")
    assert out[1].startswith("modem +6281200000002 A7670E on /dev/pts/"), "A7670E is the default variant"
    listed = [line for line in out if line.startswith("# +62")]
    assert len(listed) == 2, "one list, a line a modem: quit ended the console before the second"
    assert "registration=home" in listed[0] and "registration=denied" in listed[1]
    assert "# error: '+999'" in out, "an unknown number is said, not a crash"
    assert sum(line.startswith("# commands:") for line in out) == 2, "the help at start, and for 'fly'"
    assert any(line.startswith("# error: invalid literal") for line in out), "lose x"
