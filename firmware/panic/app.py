"""The application: reads the configuration, wires the tasks, runs them.

Tasks (one per concern, all asyncio, none blocking for long):

- supervisor  feeds the watchdog while every task reports progress
- indicator   LED/buzzer pattern for the current state
- button      debounced pin -> gestures (hold, taps, cancel) -> alerts (_on_gesture)
- sensors     tamper switch, mains sense, battery -> device events (panic.sensors)
- link        Wi-Fi + MQTT session, reconnect with back-off; incoming acks
- delivery    sends outbox entries until the gateway acks them
- heartbeat   signed ``hb`` every heartbeat_s
- gps         reads the receiver (board without one: none), powers it; alerts take its ``loc``

Remote commands (``…/cmd``) are handled by panic.command, imported when one
arrives and unloaded after it (see _command).

Hardware comes in as one object (panic.hal.Esp32Hardware on the ESP32, virtual
hardware in the simulator): nothing here imports machine or network.

Heap: every module is imported up front (compiling .py source later, in a
heap already holding the app's state, fragments it); panic.config is only
needed at boot, so it is imported then and unloaded once read.

Without a valid configuration the app does not crash or reboot: it shows
``fault``, logs why (``E <up> config: invalid reason=...``) and keeps the
supervisor and indicator running so the device stays reachable for
provisioning over the serial console. With damaged configuration files but
a last good copy (panic.config), it runs on that copy and reports the fault.

Boot order: configuration, outbox and seq are read *before* the hardware
watchdog is started (it cannot be stopped once running), so a slow or
damaged flash can never turn into a watchdog reset at every boot; every
read is bounded in size (see "Flash, boot and the watchdog" in
docs/firmware.md).
"""

import asyncio
import sys
import time

# asyncio loads these parts on first use; loading them with the rest of the
# code keeps the heap accounting honest (code before mark_code, data after).
from asyncio import Event, Lock, StreamReader, StreamWriter, gather, wait_for_ms  # noqa: F401

# Biggest first, as in main.py: each compile needs contiguous heap, which the
# compiled code of the modules before it breaks up.
from panic.link import Link  # isort: skip
from panic.alerts import Alerts  # isort: skip
from panic.indicator import Indicator  # isort: skip
from panic.delivery import Delivery  # isort: skip
from panic.supervisor import Supervisor  # isort: skip
from panic.button import Button  # isort: skip
from panic.heartbeat import Heartbeat  # isort: skip
from panic import VERSION, console, indicator, log, mem, messages, sensors  # isort: skip
from panic.outbox import Outbox  # isort: skip
from panic.seq import SeqCounter  # isort: skip
from panic.sign import Signer  # isort: skip
from micropython import const

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from typing import Coroutine

    from panic.config import Config
    from panic.hal import Hardware

_DEFAULT_WDT_MS = const(10000)

class App:
    def __init__(self, hw: Hardware) -> None:
        self.hw = hw
        self.cfg: Config | None = None
        self.ind: Indicator | None = None
        self.outbox: Outbox | None = None
        self.seq: SeqCounter | None = None
        self.link: Link | None = None
        self.alerts: Alerts | None = None
        self.delivery: Delivery | None = None
        self.sup: Supervisor | None = None
        self.button: Button | None = None  # a config command changes these two (panic/command.py)
        self.beat: Heartbeat | None = None
        self.fault = ""  # damage found on the flash at boot (and worked around): shown while idle
        self._tasks: tuple = ((), ())  # (names, tasks) of the running tasks, for _died
        self.test_mode = False  # set_test_mode: presses raise test alerts
        self._cancel = 0  # seq of the alert a cancel gesture refers to (0: none)

    async def run(self) -> None:
        hw = self.hw
        log.info("app", "starting fw=%s board=%s" % (VERSION, log.q(hw.name)))
        cfg, _, error = _boot(self, "pb-" + hw.unique_id())  # panic.boot also logs what it loaded
        if hw.gps_uart is not None:
            # Loaded with the rest of the code (before mark_code); a board without a receiver never loads it.
            import panic.fix  # noqa: F401
            import panic.gps  # noqa: F401
        mem.mark_code()
        self.cfg = cfg
        # The watchdog starts only now: nothing above can be slow enough to starve it.
        sup = Supervisor(hw.watchdog(cfg.wdt_ms if cfg is not None else _DEFAULT_WDT_MS))
        self.sup = sup
        self.ind = Indicator(hw.led, hw.buzzer, sup, hw.fault_led)
        names = ["supervisor", "indicator", "console"]
        tasks: list = [sup.run(), self.ind.run(), console.run(self)]  # also without a configuration
        self._tasks = (names, tasks)  # coroutines until they are started below
        sensing = None
        if cfg is None:
            log.error("config", "invalid reason=%s; provision over the serial console" % log.q(error))
            self.ind.set(indicator.FAULT, "config")
        else:
            if error:
                self.fault = "config"
                log.error("config", "invalid reason=%s; running on the last good copy" % log.q(error))
            sensing = self._start(cfg, sup, Signer(cfg.device_key))
        # Every task runs detached: one that dies is logged by _died and the others go on. (A
        # wrapper coroutine per task did the same for ~230 B of heap each.)
        asyncio.get_event_loop().set_exception_handler(self._died)
        for i in range(len(tasks)):
            tasks[i] = asyncio.create_task(tasks[i])
        mem.report("started")
        if sensing is not None:
            # Not detached: if it raised, App.run would end and main() log it and reset - the same
            # outcome as a dead task starving the watchdog.
            await sensing
        while True:
            await asyncio.sleep_ms(60000)

    def _start(self, cfg: Config, sup: Supervisor, signer: Signer) -> Coroutine:
        """The tasks of a configured button, added to self._tasks; returns the sensors task."""
        hw = self.hw
        assert self.outbox is not None and self.seq is not None
        self.link = Link(cfg, hw, sup, self._on_message, self._on_link)
        self.delivery = Delivery(self.outbox, self.link, cfg.retry_min_ms, cfg.retry_max_ms, sup)
        uart = hw.gps_uart
        gps = None
        if uart is not None:
            from panic.gps import Gps

            gps = Gps(uart, hw.gps_power)
        self.alerts = Alerts(cfg.device_id, hw, self.seq, self.outbox, signer, self.delivery.wake, self._refresh, gps)
        button = self.button = Button(hw.button, cfg.hold_ms, self._on_gesture, sup, cancel_ms=cfg.cancel_ms,
                                      taps_ms=cfg.taps_ms, repeat_ms=cfg.repeat_ms)
        beat = self.beat = Heartbeat(cfg.device_id, hw, self.seq, signer, self.link, cfg.heartbeat_s, sup)
        self._refresh("boot")
        names, tasks = self._tasks
        names += ["button", "link", "delivery", "heartbeat"]
        tasks += [button.run(), self.link.run(), self.delivery.run(), beat.run()]
        if gps is not None:
            names.append("gps")
            tasks.append(gps.run(sup))
        return sensors.run(hw, self.alerts, sup, cfg.repeat_ms)

    def _died(self, loop: object, context: dict) -> None:
        # A task that dies stops reporting progress, so the supervisor lets
        # the watchdog reset the device; log why before that happens.
        names, tasks = self._tasks
        task = context["future"]
        log.exc("app", "task died task=%s" % (names[tasks.index(task)] if task in tasks else "?"),
                context["exception"])

    def _on_gesture(self, gesture: str) -> None:
        # hold -> sos, taps -> silent_sos (test in test mode), cancel -> cancel of the last alert.
        # Storing or removing an alert blocks the loop on flash (docs/firmware.md,
        # "Flash, boot and the watchdog"): give the write the watchdog's whole timeout.
        alerts, button = self.alerts, self.button
        if alerts is None or button is None or self.sup is None or self.cfg is None:
            return
        self.sup.feed()
        ref = self._cancel
        if gesture == "cancel":
            if ref:
                button.window_until = self._cancel = 0
                alerts.raise_alert("cancel", ref, ref in alerts.quiet)
            return
        kind = "test" if self.test_mode else "sos" if gesture == "hold" else "silent_sos"
        seq = alerts.raise_alert(kind, None, kind == "silent_sos")
        if seq and kind != "test":
            self._cancel = seq
            button.window_until = log.uptime_ms() + self.cfg.cancel_window_s * 1000

    def set_test_mode(self, on: bool) -> None:
        """Presses raise `test` alerts while on (console or command); kept in RAM only: a reboot ends it."""
        self.test_mode = bool(on)
        log.info("app", "test_mode=%d" % self.test_mode)

    def _on_message(self, topic: str, payload: bytes) -> None:
        alerts = self.alerts
        if alerts is not None and topic == alerts.ack_topic and self.sup is not None:
            self.sup.feed()  # as in _on_gesture
            alerts.on_ack(payload)
        elif topic.endswith("/cmd") and alerts is not None and self.sup is not None:
            self.sup.feed()  # a command may write the flash
            asyncio.create_task(_command(self, topic, payload))
        else:
            log.warn("link", "unexpected topic=%s" % log.q(topic))

    def _on_link(self, up: bool) -> None:
        if up and self.delivery is not None:
            self.delivery.link_up()
        self._refresh("link_up" if up else "link_down")

    def _refresh(self, why: str) -> None:
        """Derive what the indicator shows from the state of everything else."""
        ind = self.ind
        if ind is None:
            return
        outbox, seq, link, alerts = self.outbox, self.seq, self.link, self.alerts
        if outbox is None or seq is None or link is None or alerts is None:
            state = indicator.FAULT
        elif alerts.loud():
            state = indicator.SENDING  # whatever else is wrong, an alert is on its way (a quiet one unseen)
        else:
            # The gateway's state of the newest alert -> the LED (received and acknowledged are
            # shown as themselves), also with no link (an ack SMS: panic.smsout). An end (resolved,
            # cancelled, false_alarm): back to idle.
            state = alerts.latest_state or indicator.IDLE
            if state == "dispatched" or state == "on_scene":
                state = indicator.ON_THE_WAY
            elif state != indicator.RECEIVED and state != indicator.ACKNOWLEDGED:
                state = indicator.IDLE
            if state == indicator.IDLE and (self.fault or outbox.fault or seq.fault or not link.connected):
                # No link, a flash fault, or damage found at boot (and worked around): needs a look.
                state = indicator.FAULT
        ind.set(state, why)


def _boot(app: App, device_id: str) -> tuple:
    """panic.boot.start: (Config or None, key fingerprint, error); the outbox and seq loaded; never raises.

    panic.boot (and panic.config, which it imports) is boot-only code, unloaded
    once used; it is referenced from this function's frame only, which ends
    here. (A name bound in App.run would live as long as the app's coroutine,
    and with it the module's whole code for good.) A failure here - even a
    MemoryError while loading - must not stop the boot: without a
    configuration the button shows fault.
    """
    try:
        from panic import boot

        return boot.start(app, device_id)
    except Exception as e:
        log.exc("app", "reading the configuration failed", e)
        return None, "", "load failed exc=%s" % type(e).__name__
    finally:
        mem.unload("panic.boot")
        mem.unload("panic.config")
        mem.unload("panic.cfgbase")


async def _command(app: App, topic: str, payload: bytes) -> None:
    """panic.command, on demand: loaded for one command, unloaded after (as panic.config at boot);
    then the answer it signed is sent (QoS 1) from here, without it, and a `reboot` done."""
    answer = None
    try:
        from panic import command

        answer = command.handle(app, topic, payload)
    except Exception as e:  # also a MemoryError loading it: the command goes unanswered, and expires
        log.exc("cmd", "failed", e)
    finally:
        command = None  # type: ignore[assignment]  # this frame's reference, else the module would stay alive
        mem.unload("panic.command")
        mem.unload("panic.identify")  # stays loaded by its task while the indicator blinks
        mem.report("cmd")
    if answer is None:
        return
    topic, payload, reboot = answer
    try:
        await app.link.publish(topic, payload, 1)  # type: ignore[union-attr]
        log.info("cmd", "answered bytes=%d" % len(payload))
    except OSError as e:
        log.warn("cmd", "answer not sent err=%s" % log.q(e))
    if reboot:
        log.warn("cmd", "rebooting")
        app.hw.reset()


def main(hw: Hardware | None = None) -> None:
    """Run the firmware on `hw` (default: the ESP32's, from panic.hal)."""
    if hw is None:
        try:
            from panic import hal

            hw = hal.Esp32Hardware()
        except Exception as e:
            # Without pin numbers there is nothing safe to drive; rebooting
            # would not help either. Stay up (the serial console will fix it).
            log.exc("hal", "no usable board definition, idle", e)
            while True:
                time.sleep(60)
    try:
        asyncio.run(App(hw).run())
    except Exception as e:
        # Nothing should get here; if something does, a clean restart beats
        # a button that looks alive and is not. The pause keeps a fault that
        # recurs at every boot from becoming a tight reboot loop.
        log.exc("app", "fatal, resetting in 10 s", e)
        sys.print_exception(e)
        time.sleep(10)
        hw.reset()
