"""Cellular data bearer (A7670E LTE / SIM800L GPRS) and the link that falls back to it.

Loaded only on a cellular button: a board with a modem whose configuration
sets ``apn`` (panic.app imports it then, with panic.modem); a Wi-Fi button
never does, so its heap is unchanged.

The bring-up (steps 1-4 below) is panic.cellup, loaded for each attempt and
unloaded after it: its code is not on the heap while a session runs.

``Cell`` is a bearer, with the interface panic.link uses for Wi-Fi (the HAL's
``wifi``): ``connect(ssid, password)`` starts bringing the bearer up and returns at once
(the arguments are Wi-Fi's SSID and password, unused here: the settings come
from ``cfg.modem``), ``isconnected()``, ``rssi()`` (dBm from ``+CSQ``, None when
unknown). Its task, started by the first ``connect``, runs the modem:

1. AT sync (``Modem.sync``); no answer: power it (RESET pulse, or PWRKEY),
   timed by ``panic.modem.MODELS``; still none: fault ``no_answer``;
2. SIM: ``AT+CPIN?``; ``SIM PIN`` -> ``AT+CPIN=<sim_pin>`` (secret: never
   logged). A wrong PIN (``+CME ERROR: 16``) is never tried again until the
   unit reboots: three wrong PINs would lock the SIM (PUK). Missing SIM
   (``+CME ERROR: 10``): fault ``sim_missing``;
3. registration: the model's queries (``+CEREG``/``+CGREG`` on the A7670E,
   ``+CGREG``/``+CREG`` on the SIM800L), with their URCs on, polled with
   back-off (1 s doubling to 8 s) for at most ``_REG_MS``; ``3`` (denied):
   fault ``reg_denied`` at once;
4. ``+CSQ`` -> dBm (``-113 + 2 n``; 99 unknown), ``AT+CGDCONT=1,"IP","<apn>"``,
   ``ATD*99#`` -> ``CONNECT`` (``NO CARRIER``: fault ``ppp_refused``);
5. PPP: ``network.PPP`` over the modem's UART (``hw.ppp``; PAP with
   ``apn_user``/``apn_password`` when set). On the simulator, where the unix
   port has no PPP, ``hw.ppp`` is None: the modem's answers up to CONNECT and
   after NO CARRIER are the real dialogue, the sockets use the host's network;
6. while up: NO CARRIER, a modem reboot (RDY), registration lost (URC) or PPP
   down end the session (``cell lost why=``); panic.link drops its MQTT
   session as it does on ``wifi lost``; the task redials after a back-off
   (2 s doubling to 60 s); after ``_POWER_AFTER`` failures in a row the modem
   is power cycled.

Every step has a deadline and the task reports progress to the supervisor
while it waits, so no modem behaviour can starve the watchdog. Faults are
logged (``W cell: down why=<reason> ...``: no_answer, sim_missing, pin_needed,
pin_wrong, sim_error, registration_denied, registration_timeout,
ppp_refused, dial_error, ppp_timeout, at_error, then for a session that ends:
no_carrier, modem_reboot, registration_lost, ppp_lost); while the link is down the
indicator shows ``fault`` (or ``sending`` when an alert waits: it stays in the
outbox until a session delivers it).

``pause()`` / ``resume()`` give the modem's command mode to an SMS sender
while data is up: PPP is stopped, ``+++`` (guard times) returns the modem to
command mode, ``ATO`` resumes the session (NO CARRIER: the task redials).
MicroPython has no CMUX, so the UART carries one or the other.

``start(link)`` gives panic.link.Link its bearer: the cellular one alone
(it becomes the link's ``hw.wifi``: the active bearer; its ``net`` is ``cell``), or, with a Wi-Fi SSID configured too,
the ordered list Wi-Fi then cellular (panic.bearers, loaded only then). The
active bearer's wire name (``net``: ``wifi`` or ``cell``) and signal go into
alerts and heartbeats.
"""

import asyncio

from micropython import const

from panic import log, mem, messages
from panic.modem import Modem

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from typing import Any, Callable

    from panic.app import App
    from panic.config import Config
    from panic.delivery import Delivery
    from panic.sign import Signer
    from panic.hal import CellHardware as Hardware
    from panic.link import Link
    from panic.supervisor import Supervisor

_SLOT_MS = const(45000)  # the longest a step waits between two alive(): ATD's timeout + margin
_MIN_MS = const(2000)
_MAX_MS = const(60000)
_POWER_AFTER = const(3)
_POLL_MS = const(100)

# Attribute names below are names the firmware has interned already (docs/firmware.md, "Heap and
# qstrs"): the cellular button's modules must not need a sixth qstr pool.


class Cell:
    net = "cell"  # the wire name of this bearer (panic.link, alerts, heartbeats; Wi-Fi's is "wifi")

    def __init__(self, cfg: Config, hw: Hardware, sup: Supervisor) -> None:
        self.cfg = cfg
        self.hw = hw
        self.sup = sup
        uart = hw.modem_uart
        assert uart is not None  # panic.app loads this module only on a board with a modem
        self.uart = uart
        self.settings: dict = cfg.modem or {}
        self.modem = Modem(uart, hw.modem_model)
        self.level: int | None = None  # dBm from +CSQ
        self.up = False
        self.why = ""  # the last fault, "" when none
        self.ppp: Any = None
        self.task: object = None
        self.failed = False  # the SIM refused the PIN: never sent again until a reboot (3 wrong: PUK)
        self.stalled = False  # paused for an SMS (command mode)
        self._seen = 0  # modem.reboots when the session came up

    # --- the bearer interface (as hw.wifi) ----------------------------------------------

    def connect(self, ssid: str | None, password: str | None) -> None:  # Wi-Fi's arguments: unused
        if self.task is None:
            self.task = asyncio.create_task(self.run())

    def isconnected(self) -> bool:
        m = self.modem
        if not self.up or self.stalled or m.reboots != self._seen or m.reg == 0 or m.reg == 2 or m.reg == 3:
            return False
        ppp = self.ppp
        return ppp.isconnected() if ppp is not None else m.carrier

    def rssi(self) -> int | None:
        return self.level

    # --- the task ------------------------------------------------------------------------

    async def run(self) -> None:
        sup = self.sup
        slot = sup.register("cell", _SLOT_MS)
        delay = _MIN_MS
        fails = 0
        while True:
            sup.alive(slot)
            why = ""
            try:
                from panic import cellup  # the bring-up: on the heap only while it runs

                why = await cellup.dial(self, slot, fails > 0 and fails % _POWER_AFTER == 0)
            except Exception as e:  # AtError, OSError (ETIMEDOUT: no answer), anything: logged, retried
                code = getattr(e, "code", 0)  # AtError's
                why = ("modem_reboot" if code == -3 else "at_error" if code else
                       "no_answer" if isinstance(e, OSError) else "error")
                log.warn("cell", "bring-up failed exc=%s err=%s" % (type(e).__name__, log.q(e)))
            finally:
                cellup = None  # type: ignore[assignment]  # this frame's reference, else it stays loaded
                mem.unload("panic.cellup")
            if not why:
                fails = 0
                delay = _MIN_MS
                self._seen = self.modem.reboots
                self.up = True
                log.info("cell", "up rssi=%s" % self.level)
                why = await self._session(slot)
            self.why = why
            self.close()
            fails += 1
            log.warn("cell", "down why=%s fails=%d retry_ms=%d" % (why, fails, delay))
            await self._wait(slot, delay)
            delay = min(delay * 2, _MAX_MS)

    async def _wait(self, slot: int, ms: int) -> None:
        while ms > 0:
            self.sup.alive(slot)
            await self.modem.idle(500 if ms > 500 else ms)
            ms -= 500

    def close(self) -> None:
        """The session is over: PPP down, the UART back to the AT engine."""
        self.up = False
        self.stalled = False
        ppp = self.ppp
        self.ppp = None
        if ppp is not None:
            try:
                ppp.disconnect()
            except Exception:  # already down
                pass
        self.modem.hold = False

    async def _session(self, slot: int) -> str:
        """Until the data session ends; why it did."""
        m = self.modem
        while True:
            self.sup.alive(slot)
            if not self.stalled:
                m.poll()
                if not self.isconnected():
                    break
            await asyncio.sleep_ms(_POLL_MS)
        return ("modem_reboot" if m.reboots != self._seen else "no_carrier" if not m.carrier
                else "ppp_lost" if self.ppp is not None and not self.ppp.isconnected() else "registration_lost")

    # --- command mode for SMS ----------------------------------------------------------

    async def pause(self) -> None:
        """Data -> command mode (PPP stopped, +++): AT commands work; resume() goes back. No-op when down."""
        if not self.up or self.stalled:
            return
        self.stalled = True
        ppp = self.ppp
        self.ppp = None
        if ppp is not None:
            ppp.disconnect()
        try:
            await self.modem.escape()
        except Exception:  # no OK: the modem already left data mode (NO CARRIER follows)
            pass

    async def resume(self) -> None:
        """Back to data mode (ATO); NO CARRIER or no answer ends the session and the task redials."""
        if not self.stalled:
            return
        m = self.modem
        try:
            await m.cmd(b"ATO", 5000)
            ppp = self.hw.ppp(self.uart)
            if ppp is not None:
                m.hold = True
                self.ppp = ppp
                ppp.connect()
        except Exception:
            m.carrier = False
        self.stalled = False


def load(app: App, cfg: Config) -> None:
    """At boot (panic.boot, with the rest of the code): panic.bearers too when Wi-Fi is configured as
    well; and the app's ``_start`` wrapped, so its link gets the cellular bearer before it runs
    (panic.app itself has no cellular code: a Wi-Fi button's heap holds none)."""
    if cfg.wifi_ssid and (cfg.modem or {}).get("apn"):
        import panic.bearers  # noqa: F401
    start_app = app._start

    def _start(cfg: Config, sup: Supervisor, signer: Signer) -> Any:  # a name already interned
        sensing = start_app(cfg, sup, signer)
        if app.link is not None:
            cell = start(app.link)
            # Alerts by SMS when data fails: a task of this module's (texts) loads panic.smsout on demand.
            d = app.delivery
            if cell is not None and cell.settings.get("sms_to") and d and app.alerts:
                d.smsout = (app.alerts, cell)
                asyncio.create_task(texts(d))
        return sensing

    app._start = _start  # type: ignore[method-assign]
    # Alerts and heartbeats name their link "wifi" (panic.alerts, panic.heartbeat: a Wi-Fi button
    # pays nothing for this); here the wire name becomes the active bearer's (hw.wifi's net).
    hw = app.hw
    make_alert, make_beat = messages.alert, messages.heartbeat

    def alert(dev: str, seq: int, kind: str, ts: int | None, up: int, bat: int | None, pwr: str, net: str,
              *more: Any) -> bytes:
        return make_alert(dev, seq, kind, ts, up, bat, pwr, getattr(hw.wifi, "net", net), *more)

    def heartbeat(dev: str, seq: int, ts: int | None, up: int, bat: int | None, pwr: str, net: str,
                  *more: Any) -> bytes:
        return make_beat(dev, seq, ts, up, bat, pwr, getattr(hw.wifi, "net", net), *more)

    messages.alert, messages.heartbeat = alert, heartbeat  # type: ignore[assignment]


async def texts(d: Delivery) -> None:
    """SMS, the path of last resort: panic.smsout, loaded while alerts wait in the outbox with no data
    link (until it is back or they are acked; it unloads itself). A task of its own here, not in
    panic.delivery: a button without a modem carries none of it.

    Once it has texted, the states police set later come by SMS too (docs/sms.md): while the link
    stays down this task reads the modem's +CMTI and loads panic.smsout again to read each ack SMS
    (Alerts.on_ack: the indicator follows), and to set the modem up again after it rebooted (its
    +CMTI setting is gone then). The link back, the states come over MQTT: that following ends."""
    slot = d.sup.register("sms", d.link.publish_timeout_ms + 5000)
    m = d.smsout[1].modem
    seen = -1  # modem.reboots when panic.smsout last set the modem up for SMS; -1: not since the link was up
    while True:
        d.sup.alive(slot)
        if d.link.connected:
            seen = -1
        else:
            m.poll()  # +CMTI (nothing while PPP holds the UART)
            if d.outbox.entries or m.sms or seen >= 0 and seen != m.reboots:
                try:
                    from panic import smsout

                    seen = await smsout.run(d, slot)
                except MemoryError as err:  # no room to load it now: the alert stays in the outbox; again in 1 s
                    log.exc("sms", "not loaded", err)
                smsout = None  # type: ignore[assignment]  # this frame's reference, else the module would stay
        await asyncio.sleep_ms(1000)


def start(link: Link) -> Cell | None:
    """Make the cellular bearer ``link``'s (panic.app, on a cellular button): alone when no Wi-Fi SSID
    is configured; behind Wi-Fi otherwise (panic.bearers: the ordered list, and the way back).
    None on a board without a modem (its configuration is then ignored, and logged). The bearer is
    also ``link.cell`` (on a cellular button only): an SMS sender uses its ``modem`` (panic.modem's
    API) and, while data is up, ``pause()`` / ``resume()`` around its commands."""
    if getattr(link.hw, "modem_uart", None) is None:
        log.error("cell", "no modem on this board: cellular settings ignored")
        return None
    cell = Cell(link.cfg, link.hw, link.sup)  # type: ignore[arg-type]
    link.cell = cell  # type: ignore[attr-defined]  # for an SMS sender: link.cell.modem, pause()/resume()
    if not cell.settings.get("apn"):
        return cell  # SMS only: the link stays Wi-Fi's
    if link.cfg.wifi_ssid:
        from panic.bearers import Bearers

        Bearers(link, cell)
    else:
        link.hw.wifi = cell  # type: ignore[misc]  # the active bearer is the link's hw.wifi
    return cell
