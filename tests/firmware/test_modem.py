"""panic/modem.py under MicroPython against the emulated modems (simulator/modem) over a real pty."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from simulator.modem.emulator import EmulatedModem
from simulator.modem.network import Network
from tests.firmware.ptyuart import PTY_UART

Run = Callable[..., Any]
NUMBER = "+4915112345678"

# Runs the steps of `script` (async, gets m) and prints one JSON line per step result.
DRIVER = PTY_UART + """
import asyncio, json
from panic import modem
m = modem.Modem(PtyUart(%r), %r)
async def step(coro):
    try:
        r = await coro
        return {"ok": r}
    except modem.AtError as e:
        return {"err": e.args[0], "code": e.code}
    except OSError as e:
        return {"oserr": e.errno}
async def main():
%s
asyncio.run(main())
"""


@pytest.fixture(params=["A7670E", "SIM800L"])
def emulated(request: pytest.FixtureRequest) -> Iterator[EmulatedModem]:
    network = Network()
    m = EmulatedModem(network, NUMBER, request.param).start()
    m.booted.wait(5)
    yield m
    m.close()


def when(modem: EmulatedModem, command: str, action: Callable[[], None]) -> threading.Thread:
    """Play `action` on the emulator as soon as the device has sent `command` (from another thread)."""

    def watch() -> None:
        for _ in range(2000):
            if command in modem.received_commands:
                action()
                return
            time.sleep(0.01)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


def run_steps(run_micropython: Run, modem: EmulatedModem, body: str, timeout: float = 60) -> list[dict]:
    script = DRIVER % (modem.path, modem.variant.model, "\n".join("    " + line for line in body.splitlines()))
    out = run_micropython(script, timeout=timeout).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_commands_answers_and_errors(run_micropython: Run, emulated: EmulatedModem) -> None:
    emulated.sim = "pin"
    emulated.reboot()
    emulated.booted.wait(5)
    got = run_steps(run_micropython, emulated, """
print(json.dumps(await step(m.sync(3000))))
print(json.dumps(await step(m.cmd("AT+CPIN?"))))
print(json.dumps(await step(m.cmd("AT+CPIN=9999"))))
print(json.dumps(await step(m.cmd("AT+CPIN=1234"))))
print(json.dumps(await step(m.cmd("AT+CSQ"))))
print(json.dumps(await step(m.cmd("AT+NOPE"))))
print(json.dumps({"sim": m.sim, "reboots": m.reboots}))
""")
    assert got[0] == {"ok": True}
    assert got[1] == {"ok": ["+CPIN: SIM PIN"]}
    assert got[2] == {"err": "+CME ERROR: 16", "code": 16}
    assert got[3] == {"ok": []}
    assert got[4] == {"ok": ["+CSQ: 20,99"]}
    assert got[5] == {"err": "ERROR", "code": -1}
    assert got[6]["sim"] == "READY"  # the +CPIN: READY URC after the PIN


def test_timeout_and_reboot_mid_command(run_micropython: Run, emulated: EmulatedModem) -> None:
    emulated.stall_next("AT+CSQ")
    emulated.stall_next("AT+COPS")
    when(emulated, "AT+COPS?", emulated.reboot)  # the modem reboots while AT+COPS? waits for its answer
    got = run_steps(run_micropython, emulated, """
print(json.dumps(await step(m.sync(3000))))
print(json.dumps(await step(m.cmd("AT+CSQ", 300))))
print(json.dumps(await step(m.cmd("AT+CSQ", 1000))))
print(json.dumps({"reboots": m.reboots}))  # the boot URCs waiting in the pty count too
print(json.dumps(await step(m.cmd("AT+COPS?", 20000))))
print(json.dumps({"reboots": m.reboots}))
""")
    assert got[0] == {"ok": True}
    assert got[1] == {"oserr": 110}  # ETIMEDOUT: the stalled command
    assert got[2] == {"ok": ["+CSQ: 20,99"]}  # the engine is ready again
    assert got[4]["code"] == -3 and got[4]["err"] in ("RDY", "*ATREADY: 1")
    assert got[5] == {"reboots": got[3]["reboots"] + 1}


def test_urcs_prompt_and_data(run_micropython: Run, emulated: EmulatedModem) -> None:
    from simulator.modem.network import Sms

    when(emulated, "AT+CNMI=2,1", lambda: emulated.receive(Sms("+4915199999999", NUMBER, "hi")))
    when(emulated, "ATO", lambda: emulated.set_registration("denied"))
    got = run_steps(run_micropython, emulated, """
print(json.dumps(await step(m.sync(3000))))
print(json.dumps(await step(m.cmd("AT+CMGF=1"))))
print(json.dumps(await step(m.cmd("AT+CNMI=2,1"))))
await m.idle(500)
print(json.dumps({"sms": m.sms}))
print(json.dumps(await step(m.cmd('AT+CMGS="+4915100000000"', 5000, data=b"hello"))))
print(json.dumps(await step(m.cmd("AT+CGDCONT=1,\\"IP\\",\\"internet\\""))))
print(json.dumps(await step(m.cmd("ATD*99#", 5000))))
print(json.dumps(await step(m.escape())))
print(json.dumps(await step(m.cmd("AT+CSQ"))))
print(json.dumps(await step(m.cmd("ATO", 3000))))
for _ in range(200):
    m.poll()
    if not m.carrier:
        break
    await asyncio.sleep_ms(20)
print(json.dumps({"carrier": m.carrier, "reg": m.reg}))
""")
    assert got[0] == {"ok": True}
    assert got[3] == {"sms": [0]}  # +CMTI: "SM",0
    assert got[4]["ok"][0].startswith("+CMGS:")
    assert got[5] == {"ok": []}
    assert got[6]["ok"][-1].startswith("CONNECT")
    assert got[7] == {"ok": None}  # +++ -> OK
    assert got[8] == {"ok": ["+CSQ: 20,99"]}
    assert got[9] == {"ok": ["CONNECT"]}
    assert got[10] == {"carrier": False, "reg": -1}  # NO CARRIER ended the session
