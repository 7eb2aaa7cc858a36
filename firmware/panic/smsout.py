"""SMS, the path of last resort: alerts out as signed SMS, acks back in (docs/sms.md, "The button's side").

On demand, as panic.command: panic.cellular's ``texts`` task imports this
module only while the data link is down and SMS is configured (``sms_to``, a
modem) and there is something to do: alerts wait in the outbox, an SMS came
(``+CMTI``: the states police set after ``received`` come that way), or the
modem rebooted since this set it up for SMS; ``run`` unloads it
(panic.mem.unload) when it returns: once the data link is back or nothing is
left to do. A Wi-Fi button that never loses its link never loads it. Its state (which alert was
texted when) lives as long as it is loaded: after a data link that came and
went the alerts still waiting are texted again at once.

While it runs:

- an outbox entry waiting for ``sms_after_s`` since it was raised (its own
  ``up``; one from before a reboot counts from the boot) is written as an SMS
  (panic.smsfmt, the same seq and readings as its MQTT bytes, so the gateway
  sees one alert) and sent in text mode (``AT+CMGS`` and the ``> `` prompt) to
  every ``sms_to`` number; a modem in data mode is escaped with ``+++``
  first and put back with ``ATO`` after. No ack SMS: sent again after
  2 x ``sms_after_s``, doubling up to 32 x (16 min at the default 30 s);
- SMS that reach the modem (``+CMTI``, and whatever the SIM held when this
  started: ``AT+CMGL``) are read (``AT+CMGR``), checked (panic.smsfmt.ack:
  grammar, device, MAC) and deleted (``AT+CMGD``); a valid ack is handled as
  an MQTT ack (Alerts.on_ack: outbox entry gone, indicator; a state for an
  alert already acked, e.g. ``acknowledged`` after ``received``, moves the
  indicator on), unless it is a step back from the state the indicator shows
  for that alert (SMS may overtake each other: ``I <up> sms: stale seq=<n>
  state=<s> shown=<s>``); anything else is logged and dropped (``W <up> sms:
  ignored slot=<n> reason=<code>``);
- a modem error (no answer, ``+CMS ERROR``) is logged and retried on the
  same back-off; the ``sms`` watchdog slot is fed throughout.

Log lines: ``I <up> sms: sent seq=<n> to=<number> try=<k> next_ms=<ms>``,
``W <up> sms: modem err=<text> exc=<type>``, ``I <up> sms: ack seq=<n> state=<s>``.

Heap: loading it takes ~7 KB with panic.smsfmt (64-bit unix port, docs/benchmarks.md); every
allocation is small: few module-level names (the globals dict is one block), the state in one
list, no big function.
"""

import asyncio
import json
import time

from micropython import const

from panic import log, mem, messages, smsfmt
from panic.sign import SigError

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from typing import Any

    from panic.delivery import Delivery
    from panic.outbox import Entry

_CMD_MS = const(10000)  # an ordinary AT command
_SEND_MS = const(60000)  # AT+CMGS: up to 60 s until +CMGS (SIM800 and A76xx AT manuals, max response time)
_MAX_FACTOR = const(32)  # resend back-off cap, in units of sms_after_s
_SLICE_MS = const(200)
# _st: the Delivery (outbox, link), the sms task's watchdog slot, Alerts, panic.cellular.Cell, sms_after_s in ms; modem.reboots
# when it was set up for SMS (-1: not yet); when to list the SIM again (an ack that came while in data mode)
_D = const(0)
_SLOT = const(1)
_ALERTS = const(2)
_CELL = const(3)
_AFTER = const(4)
_READY = const(5)
_CHECK = const(6)

# The lifecycle's order (messages.ACK_STATES: received, acknowledged, dispatched, on_scene, then the ends)
_ORDER = messages.ACK_STATES

_st: list[Any] = []
# seq -> [texts sent, ticks_ms of the next try, back-off ms]; lives as long as this module is loaded
_sent: dict[int, list] = {}


async def run(d: Delivery, slot: int) -> int:
    """Text what waits, read what comes back; return once the data link is back or nothing is left (no alert
    waits, no SMS to read, the modem set up for SMS): modem.reboots when it was last set up, -1 if it was not."""
    alerts, cell = d.smsout  # the app's Alerts and its panic.cellular.Cell (the modem's owner)
    modem = cell.modem
    after = cell.settings["sms_after_s"] * 1000
    _st[:] = [d, slot, alerts, cell, after, -1, time.ticks_ms()]
    try:
        log.info("sms", "no data link waiting=%d after_s=%d" % (len(d.outbox.entries), after // 1000))
        # (while a data session is up, panic.cellular owns the modem's set-up: not needed then)
        while (d.outbox.entries or modem.sms or _st[_READY] != modem.reboots and not cell.up) \
                and not d.link.connected:
            d.sup.alive(slot)
            await _round()
            await asyncio.sleep_ms(_SLICE_MS)
        log.info("sms", "done link=%d waiting=%d" % (d.link.connected, len(d.outbox.entries)))
        return _st[_READY]
    finally:
        _sent.clear()
        _st.clear()
        mem.unload("panic.smsout")
        mem.unload("panic.smsfmt")
        if cell.hw.gps_uart is None:  # loaded for smsfmt only (the app loads it with a GPS receiver)
            mem.unload("panic.fix")


async def _round() -> None:
    """What is due now: set the modem up, read SMS, send one; in a data session only when there is
    something to do (each pause costs two guard times)."""
    st = _st
    cell = st[_CELL]
    modem = cell.modem
    if not modem.hold:
        modem.poll()  # +CMTI
    e = _due()
    listing = _sent and time.ticks_diff(time.ticks_ms(), st[_CHECK]) >= 0
    if e is None and not modem.sms and not listing and (st[_READY] == modem.reboots or cell.up):
        return
    try:
        await cell.pause()  # a data session up: PPP stopped, +++ (panic.cellular); else nothing
        try:
            if st[_READY] != modem.reboots or listing:
                await _setup()
                st[_READY] = modem.reboots
                st[_CHECK] = time.ticks_add(time.ticks_ms(), st[_AFTER])
            while modem.sms:  # +CMTI indices (panic.modem), and what the SIM held
                await _read(modem.sms.pop(0))
            if e is not None and e in st[_D].outbox.entries:
                await _send(e)
        finally:
            await cell.resume()  # ATO, PPP again (NO CARRIER: panic.cellular redials); else nothing
    except Exception as err:  # OSError (no answer), AtError (+CMS ERROR), MemoryError: again later
        log.warn("sms", "modem err=%s exc=%s" % (log.q(err), type(err).__name__))
        st[_READY] = -1
        d = st[_D]
        end = time.ticks_add(time.ticks_ms(), 5000)
        while time.ticks_diff(end, time.ticks_ms()) > 0 and not d.link.connected:
            d.sup.alive(st[_SLOT])
            await asyncio.sleep_ms(_SLICE_MS)


async def _at(line: str, ms: int = _CMD_MS, data: bytes | None = None) -> list:
    """One AT command through the modem's engine (panic.modem), feeding the watchdog slot while it runs."""
    st = _st
    task = asyncio.create_task(st[_CELL].modem.cmd(line, ms, data))
    while not task.done():
        st[_D].sup.alive(st[_SLOT])
        await asyncio.sleep_ms(50)
    return await task


async def _setup() -> None:
    """The modem answering (powered here when no data bearer runs it), text mode, GSM alphabet, +CMTI
    for new SMS; then what the SIM holds (AT+CMGL lists it)."""
    cell = _st[_CELL]
    modem = cell.modem
    if not await modem.sync(3000):
        if cell.settings.get("apn"):
            raise OSError("no answer")  # panic.cellular powers it and tells why; again on the back-off
        await modem.power(cell.hw.modem_pwrkey, cell.hw.modem_reset)
        if not await modem.sync(5000):
            raise OSError("no answer")
    for line in ("AT+CMGF=1", 'AT+CSCS="GSM"', "AT+CNMI=2,1,0,0,0"):
        await _at(line)
    for line in await _at('AT+CMGL="ALL"'):
        if line.startswith("+CMGL:"):
            index = int(line[6:].split(",")[0])
            if index not in modem.sms:
                modem.sms.append(index)


def _due() -> Entry | None:
    """The oldest entry whose SMS is due: first sms_after_s after it was raised (its payload's "up"; one
    from before a reboot counts from the boot), then on its back-off."""
    now = log.uptime_ms()
    tick = time.ticks_ms()
    for e in _st[_D].outbox.entries:  # oldest first
        s = _sent.get(e.seq)
        if s is None:
            p = e.payload
            i = p.find(b'"up":') + 5
            up = int(p[i:p.find(b",", i)])
            if (now - up if up <= now else now) >= _st[_AFTER]:
                return e
        elif time.ticks_diff(tick, s[1]) >= 0:
            return e
    return None


def _text(e: Entry) -> bytes:
    """The alert SMS of an outbox entry: its MQTT body's seq and readings (the same alert), panic.smsfmt.
    The coordinates are read from the JSON text as exact integer 1e-7 degrees: no float touches them."""
    p = e.payload.decode()
    a = json.loads(p)
    loc = a["loc"]
    if loc is not None:
        e7 = []
        for key in ('"lat":', '"lon":'):
            i = j = p.find(key) + len(key)
            while p[j] in "-.0123456789":
                j += 1
            whole, _, frac = p[i:j].partition(".")
            v = abs(int(whole)) * 10000000 + int((frac + "0000000")[:7])
            e7.append(-v if whole[0] == "-" else v)
        loc = (e7[0], e7[1], loc["acc"], loc["src"], loc["age"])
    return smsfmt.alert(_st[_ALERTS].signer, a["dev"], a["seq"], a["type"], a["ts"], a["up"], a["bat"], a["pwr"],
                        a["rssi"], a.get("ref"), loc)


async def _send(e: Entry) -> None:
    seq = e.seq
    after = _st[_AFTER]
    s = _sent.get(seq)
    if s is None:
        s = _sent[seq] = [0, 0, after]
    # The next try first: a send that fails is tried again on the same schedule.
    s[2] = min(s[2] * 2, after * _MAX_FACTOR)
    s[1] = time.ticks_add(time.ticks_ms(), s[2])
    body = _text(e)
    for number in _st[_CELL].settings["sms_to"]:
        await _at('AT+CMGS="%s"' % number, _SEND_MS, body)
        s[0] += 1
        log.info("sms", "sent seq=%d to=%s try=%d next_ms=%d" % (seq, number, s[0], s[2]))


async def _read(index: int) -> None:
    """One stored SMS: an ack for one of ours is handled as an MQTT ack; anything else is dropped; deleted."""
    alerts = _st[_ALERTS]
    lines = await _at("AT+CMGR=%d" % index)
    body = ""
    for i in range(len(lines) - 1):
        if lines[i].startswith("+CMGR:"):
            body = lines[i + 1]
    if body:
        try:
            ref, state, _ = smsfmt.ack(alerts.signer, alerts.dev, body)
            log.info("sms", "ack seq=%d state=%s" % (ref, state))
            shown = alerts.latest_state
            # SMS may overtake each other (and one read late from the SIM is old): never a step back.
            if ref == alerts.latest_ref and shown and _ORDER.index(state) < _ORDER.index(shown):
                log.info("sms", "stale seq=%d state=%s shown=%s" % (ref, state, shown))
            else:
                alerts.on_ack(ref, state)
        except SigError as err:
            log.warn("sms", "ignored slot=%d reason=%s" % (index, err.args[0]))
    await _at("AT+CMGD=%d" % index)
