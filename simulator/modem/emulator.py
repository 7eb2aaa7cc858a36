"""One emulated modem: the AT dialogue of an A7670E or SIM800L over a pseudo-terminal.

The client (the gateway's pyserial driver, or the simulated button's UART)
opens `modem.path` like a serial port. What is emulated:

- boot URCs of the variant after power-on, `AT+CFUN=1,1` / `AT+CRESET`, or
  `reboot()` (which may come in the middle of a command: the client sees the
  boot URCs where it expected an answer);
- `AT`, `ATE0/1`, `ATI`, `AT+CGMM`, `AT+CGMR`, `AT+CMEE`, `AT+CPIN?`/`AT+CPIN=<pin>`
  (SIM missing: `+CME ERROR: 10`; wrong PIN: `+CME ERROR: 16`), `AT+CSQ`,
  `AT+CREG?`/`AT+CGREG?`/`AT+CEREG?` (and `=n` for their URCs; `+CEREG` only
  on the LTE variant), `AT+COPS?`, `AT+CGDCONT`;
- `ATD*99#` → `CONNECT` (or `NO CARRIER` when not registered or the network
  refuses data), then data mode: bytes are swallowed, `+++` returns to
  command mode, `ATO` goes back, `ATH` hangs up, losing registration in
  data mode ends it with `NO CARRIER`. PPP itself is not emulated: the
  simulator routes the button's sockets over the host network once it has
  seen `CONNECT` (docs/sms.md, "Emulated modems");
- SMS in PDU (`AT+CMGF=0`) and text mode (`AT+CMGF=1`): `AT+CMGS` with the
  `> ` prompt and Ctrl-Z (ESC cancels), `+CMTI` when one arrives (after
  `AT+CNMI=2,1`), `AT+CMGR`, `AT+CMGL`, `AT+CMGD`, `AT+CPMS`, `AT+CSCS`, `AT+CNMI`, `AT+CSDH`;
  a PDU with a concatenation header is one part, handed on with its (reference, parts, part), in GSM-7
  or UCS-2 (`Network.sent` keeps the parts, so a test can join them as a phone does).

Anything else answers `ERROR`, as a real modem does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import select
import threading
import tty
from dataclasses import dataclass

from gateway.sms import pdu
from simulator.modem.network import Network, Sms
from simulator.modem.variants import VARIANTS, Variant

log = logging.getLogger("simulator.modem")

SIM_SLOTS = 30
_REG_CODES = {"home": 1, "searching": 2, "denied": 3, "roaming": 5, "off": 0}


@dataclass
class Stored:
    sms: Sms
    read: bool = False


class EmulatedModem:
    def __init__(self, network: Network, number: str, variant: str = "A7670E", *, sim: str = "ready",
                 pin: str = "1234", registration: str = "home", signal: int = 20) -> None:
        self.network = network
        self.number = number
        self.variant: Variant = VARIANTS[variant]
        self.sim = sim  # ready, missing, pin (locked until AT+CPIN=<pin>)
        self.pin = pin
        self.registration = registration
        self.signal = signal  # +CSQ rssi, 0..31
        self.slots: dict[int, Stored] = {}
        self.received_commands: list[str] = []
        self.stalls: list[str] = []  # command prefixes to leave unanswered once each (a hung modem)
        self.sms_failure_in: int | None = None  # AT+CMGS accepted before one is refused (fail_sms)
        self.apn = ""
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._lock = threading.RLock()
        self.booted = threading.Event()  # set once the boot URCs are out (cleared by a reboot)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"modem-{number}", daemon=True)
        self._reset_settings()
        network.attach(self)

    # --- life ------------------------------------------------------------------------

    def start(self) -> EmulatedModem:
        self._thread.start()
        self._boot()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        os.close(self._master)
        os.close(self._slave)

    def _reset_settings(self) -> None:
        self.echo = True
        self.cmgf = 0
        self.cnmi_mt = 0
        self.reg_urc = {name: 0 for name in self.variant.registration}
        self.mode = "command"  # command, sms_input, data, data_paused
        self._buffer = b""
        self._pending_sms: tuple[str, str] | None = None  # (AT+CMGS argument, mode) while reading the text
        self._sms_from = "command"  # the mode AT+CMGS was given in (command, or data_paused after +++)
        self.unlocked = self.sim == "ready"

    def reboot(self) -> None:
        """The modem restarts (power glitch, watchdog, AT+CFUN=1,1): settings are lost, the SIM keeps its SMS."""
        with self._lock:
            self.booted.clear()
            self._reset_settings()
            self._boot()

    def _boot(self) -> None:
        timer = threading.Timer(self.variant.boot_s, self._announce_boot)
        timer.daemon = True
        timer.start()

    def _announce_boot(self) -> None:
        with self._lock:
            for line in self.variant.boot_urcs:
                if line.startswith("+CPIN") and self.sim != "ready":
                    line = "+CPIN: SIM PIN" if self.sim == "pin" else "+CPIN: NOT INSERTED"
                self._write_line(line)
            self.booted.set()
        self.network.flush()

    # --- network side ------------------------------------------------------------------

    @property
    def registered(self) -> bool:
        return self.registration in ("home", "roaming") and self.sim != "missing" and self.unlocked

    def set_registration(self, state: str) -> None:
        """home, roaming, searching, denied or off: the network's view of this modem."""
        with self._lock:
            self.registration = state
            for name, mode in self.reg_urc.items():
                if mode:
                    self._write_line(f"+{name}: {_REG_CODES[state]}")
            if not self.registered and self.mode in ("data", "data_paused"):
                self.mode = "command"
                self._write_line("NO CARRIER")
        self.network.flush()

    def drop_data(self) -> None:
        """The network ends the data session (NO CARRIER), registration kept."""
        with self._lock:
            if self.mode in ("data", "data_paused"):
                self.mode = "command"
                self._write_line("NO CARRIER")

    def noise(self, data: bytes) -> None:
        """Raw bytes on the line (a modem at the wrong baud rate, a damaged cable): written as they are."""
        with self._lock:
            self._write(data)

    def receive(self, sms: Sms) -> None:
        """An SMS for this modem: into the first free SIM slot, announced with +CMTI if asked to."""
        with self._lock:
            free = next((i for i in range(SIM_SLOTS) if i not in self.slots), None)
            if free is None:
                log.warning("modem %s: SIM full, SMS from %s refused", self.number, sms.sender)
                return
            self.slots[free] = Stored(sms)
            if self.cnmi_mt == 1 and self.mode == "command":
                self._write_line(f'+CMTI: "SM",{free}')

    # --- the pty -------------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(self._master, 1024)
            except OSError:
                return
            with self._lock:
                self._feed(data)

    def _write(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            os.write(self._master, data)

    def _write_line(self, line: str) -> None:
        self._write(b"\r\n" + line.encode("latin-1") + b"\r\n")

    def _final(self, lines: list[str], result: str = "OK") -> None:
        for line in lines:
            self._write_line(line)
        self._write_line(result)

    def _feed(self, data: bytes) -> None:
        if self.mode == "data":
            if data.strip() == b"+++":
                self.mode = "data_paused"
                self._write_line("OK")
            return  # PPP frames: the simulator routes sockets over the host network instead
        self._buffer += data
        while self._buffer:
            if self.mode == "sms_input":
                if not self._take_sms_text():
                    return
                continue
            at = min((i for i in (self._buffer.find(b"\r"), self._buffer.find(b"\n")) if i >= 0), default=-1)
            if at < 0:
                return
            line, self._buffer = self._buffer[:at], self._buffer[at + 1:]
            text = line.decode("latin-1").strip()
            if not text:
                continue
            if self.echo:
                self._write(line + b"\r")
            self.received_commands.append(text)
            self._command(text)

    def _take_sms_text(self) -> bool:
        end = min((i for i in (self._buffer.find(b"\x1a"), self._buffer.find(b"\x1b")) if i >= 0), default=-1)
        if end < 0:
            return False
        body, control, self._buffer = self._buffer[:end], self._buffer[end:end + 1], self._buffer[end + 1:]
        # Back to where AT+CMGS came from: command mode, or a data session paused by +++ (ATO resumes it).
        self.mode = self._sms_from
        argument, mode = self._pending_sms or ("", "pdu")
        self._pending_sms = None
        if control == b"\x1b":
            self._final([])
            return True
        self._send_sms(argument, body.decode("latin-1").strip(), mode)
        return True

    # --- commands ------------------------------------------------------------------------

    def stall_next(self, prefix: str) -> None:
        """The next command starting with `prefix` gets no answer at all: the modem hangs (until a reboot)."""
        with self._lock:
            self.stalls.append(prefix.upper())

    def _command(self, text: str) -> None:
        upper = text.upper()
        stalled = next((p for p in self.stalls if upper.startswith(p)), None)
        if stalled is not None:
            self.stalls.remove(stalled)
            return
        if upper in self.variant.reboot:
            self._final([])
            self.reboot()
            return
        if not upper.startswith("AT"):
            self._final([], "ERROR")
            return
        if upper in self.variant.dial or upper.startswith("ATD*99"):
            self._dial(upper)
            return
        handler = _HANDLERS.get(_name(upper))
        if handler is None:
            self._final([], "ERROR")
            return
        handler(self, upper, text)

    def fail_sms(self, after: int = 0) -> None:
        """Accept `after` more AT+CMGS, then refuse one with +CMS ERROR: 500 (unknown error: an SMSC hiccup)."""
        with self._lock:
            self.sms_failure_in = after

    def _error(self, code: int, cms: bool = False) -> None:
        self._final([], f"+{'CMS' if cms else 'CME'} ERROR: {code}")

    def _sim_ready(self) -> bool:
        if self.sim == "missing":
            self._error(10)
            return False
        if not self.unlocked:
            self._error(11)
            return False
        return True

    def _dial(self, upper: str) -> None:
        if upper not in self.variant.dial:
            self._final([], "ERROR")
        elif not self.registered or self.network.refuse_data:
            self._final([], "NO CARRIER")
        else:
            self.mode = "data"
            self._write_line("CONNECT 150000000" if self.variant.act == 7 else "CONNECT")

    def _send_sms(self, argument: str, body: str, mode: str) -> None:
        if not self.registered:
            self._error(331, cms=True)  # no network service
            return
        if self.sms_failure_in is not None:
            self.sms_failure_in -= 1
            if self.sms_failure_in < 0:
                self.sms_failure_in = None
                self._error(500, cms=True)
                return
        if mode == "pdu":
            try:
                submitted = pdu.decode_submit(body)
            except pdu.PduError:
                self._error(304, cms=True)  # invalid PDU parameter
                return
            if submitted.text is None:
                self._error(303, cms=True)
                return
            # A part of a concatenated SMS goes on as a part (its header kept): the recipient's phone joins them.
            sms = Sms(self.number, submitted.number, submitted.text, submitted.alphabet, submitted.concat)
        else:
            sms = Sms(self.number, argument.strip('"'), body, "gsm7")
        self.network.submit(sms)
        self._final([f"+CMGS: {len(self.network.sent) % 256}"])

    def _cmgr_lines(self, index: int, stored: Stored, listing: bool) -> list[str]:
        sms = stored.sms
        status = 1 if stored.read else 0
        if self.cmgf == 0:
            hex_pdu = pdu.encode_deliver(sms.sender, sms.text, sms.timestamp, alphabet=sms.alphabet,
                                         concat=sms.concat)
            length = len(hex_pdu) // 2 - 1
            head = f"+CMGL: {index},{status},,{length}" if listing else f"+CMGR: {status},,{length}"
            return [head, hex_pdu]
        word = '"REC READ"' if stored.read else '"REC UNREAD"'
        ts = sms.timestamp
        stamp = "".join(ts[i + 1] + ts[i] for i in range(0, 12, 2))
        when = f'"{stamp[0:2]}/{stamp[2:4]}/{stamp[4:6]},{stamp[6:8]}:{stamp[8:10]}:{stamp[10:12]}+00"'
        text = sms.text if sms.alphabet == "gsm7" else sms.text.encode("utf-16-be").hex().upper()
        head = (f'+CMGL: {index},{word},"{sms.sender}","",{when}' if listing
                else f'+CMGR: {word},"{sms.sender}","",{when}')
        return [head, text]


def _name(upper: str) -> str:
    match = re.match(r"AT([+*&]?[A-Z]+)", upper)
    return match.group(1) if match else upper


def _at(m: EmulatedModem, upper: str, text: str) -> None:
    m._final([])


def _echo(m: EmulatedModem, upper: str, text: str) -> None:
    m.echo = upper.endswith("1")
    m._final([])


def _ident(m: EmulatedModem, upper: str, text: str) -> None:
    v = m.variant
    answers = {"I": [v.manufacturer, v.model, f"Revision:{v.revision}"], "+CGMM": [v.model],
               "+CGMI": [v.manufacturer], "+CGMR": [f"+CGMR: {v.revision}"]}
    m._final(answers[_name(upper)])


def _ok_setting(m: EmulatedModem, upper: str, text: str) -> None:
    m._final([])


def _cpin(m: EmulatedModem, upper: str, text: str) -> None:
    if m.sim == "missing":
        m._error(10)
    elif upper.endswith("?"):
        m._final(["+CPIN: READY" if m.unlocked else "+CPIN: SIM PIN"])
    elif text.split("=", 1)[1].strip('"') == m.pin:
        m.unlocked = True
        m._final([])
        m._write_line("+CPIN: READY")
        m.network.flush()
    else:
        m._error(16)  # incorrect password


def _csq(m: EmulatedModem, upper: str, text: str) -> None:
    m._final([f"+CSQ: {m.signal if m.registered else 99},99"])


def _registration(m: EmulatedModem, upper: str, text: str) -> None:
    name = _name(upper)[1:]
    if name not in m.variant.registration:
        m._final([], "ERROR")
    elif upper.endswith("?"):
        m._final([f"+{name}: {m.reg_urc[name]},{_REG_CODES[m.registration] if m.sim != 'missing' else 0}"])
    else:
        m.reg_urc[name] = int(upper.split("=", 1)[1] or 0)
        m._final([])


def _cops(m: EmulatedModem, upper: str, text: str) -> None:
    m._final([f'+COPS: 0,0,"EMULATED",{m.variant.act}'] if m.registered else ["+COPS: 0"])


def _cgdcont(m: EmulatedModem, upper: str, text: str) -> None:
    if upper.endswith("?"):
        m._final([f"+CGDCONT: 1,\"IP\",\"{m.apn}\""])
        return
    parts = text.split("=", 1)[1].split(",")
    if len(parts) < 3:
        m._final([], "ERROR")
        return
    m.apn = parts[2].strip('"')
    m._final([])


def _online(m: EmulatedModem, upper: str, text: str) -> None:  # ATO: back to the data session
    if m.mode == "data_paused" and m.registered:
        m.mode = "data"
        m._write_line("CONNECT")
    else:
        m._final([], "NO CARRIER")


def _hangup(m: EmulatedModem, upper: str, text: str) -> None:
    m.mode = "command"
    m._final([])


def _cmgf(m: EmulatedModem, upper: str, text: str) -> None:
    if upper.endswith("?"):
        m._final([f"+CMGF: {m.cmgf}"])
    elif upper.endswith(("=0", "=1")):
        m.cmgf = int(upper[-1])
        m._final([])
    else:
        m._final([], "ERROR")


def _cnmi(m: EmulatedModem, upper: str, text: str) -> None:
    parts = upper.split("=", 1)[1].split(",") if "=" in upper else []
    m.cnmi_mt = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    m._final([])


def _cpms(m: EmulatedModem, upper: str, text: str) -> None:
    used = len(m.slots)
    m._final([f"+CPMS: {used},{SIM_SLOTS},{used},{SIM_SLOTS},{used},{SIM_SLOTS}"])


def _cmgs(m: EmulatedModem, upper: str, text: str) -> None:
    if not m._sim_ready():
        return
    m._pending_sms = (text.split("=", 1)[1] if "=" in text else "", "pdu" if m.cmgf == 0 else "text")
    m._sms_from = m.mode
    m.mode = "sms_input"
    m._write(b"\r\n> ")


def _cmgr(m: EmulatedModem, upper: str, text: str) -> None:
    if not m._sim_ready():
        return
    index = upper.split("=", 1)[1]
    stored = m.slots.get(int(index)) if index.isdigit() else None
    if stored is None:
        m._final([])  # an empty slot: OK alone
        return
    lines = m._cmgr_lines(int(index), stored, listing=False)
    stored.read = True
    m._final(lines)


def _cmgl(m: EmulatedModem, upper: str, text: str) -> None:
    if not m._sim_ready():
        return
    which = upper.split("=", 1)[1].strip('"') if "=" in upper else ("0" if m.cmgf == 0 else "REC UNREAD")
    lines: list[str] = []
    for index in sorted(m.slots):
        stored = m.slots[index]
        unread = not stored.read
        if which in ("4", "ALL") or (which in ("0", "REC UNREAD") and unread) or (
                which in ("1", "REC READ") and not unread):
            lines += m._cmgr_lines(index, stored, listing=True)
            stored.read = True
    m._final(lines)


def _cmgd(m: EmulatedModem, upper: str, text: str) -> None:
    if not m._sim_ready():
        return
    parts = upper.split("=", 1)[1].split(",")
    if len(parts) > 1 and parts[1] == "4":
        m.slots.clear()
    elif parts[0].isdigit():
        m.slots.pop(int(parts[0]), None)
    else:
        m._final([], "ERROR")
        return
    m._final([])


_HANDLERS = {
    "AT": _at, "E": _echo, "E0": _echo, "E1": _echo, "I": _ident, "+CGMM": _ident, "+CGMI": _ident,
    "+CGMR": _ident, "+CMEE": _ok_setting, "+CSCS": _ok_setting, "+CSDH": _ok_setting, "+CSMP": _ok_setting,
    "+CFUN": _ok_setting, "+CPIN": _cpin, "+CSQ": _csq, "+CREG": _registration, "+CGREG": _registration,
    "+CEREG": _registration, "+COPS": _cops, "+CGDCONT": _cgdcont, "O": _online, "H": _hangup,
    "+CMGF": _cmgf, "+CNMI": _cnmi, "+CPMS": _cpms, "+CMGS": _cmgs, "+CMGR": _cmgr, "+CMGL": _cmgl,
    "+CMGD": _cmgd,
}
