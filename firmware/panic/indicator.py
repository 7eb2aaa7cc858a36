"""Indicator task: shows the button's state on the status LED (and buzzer).

States and LED patterns (durations in ms, alternating on/off, starting on):

===============  ==================  =====================================
state            pattern             meaning
===============  ==================  =====================================
``idle``         50 on, 2950 off     armed: config ok, link up, nothing pending
``sending``      100 on, 100 off     an alert is not yet confirmed by the gateway
``received``     500 on, 500 off     the gateway has the alert
``acknowledged`` steady on           police acknowledged
``on_the_way``   1800 on, 200 off    officers dispatched, or on scene
``fault``        100,150,100,1650    no config, or no link while idle
``identify``     250 on, 250 off     a technician's ``identify`` command (panic/command.py)
===============  ==================  =====================================

Every change is logged as ``I <up> indicator: state=<new> prev=<old> why=<w>``
(the simulator and tests follow the state from that line). A board with a
fault LED (``led_fault``) lights it steadily while the state is ``fault``,
so a fault is visible even between the status LED's blinks. The buzzer, if
the board has one, chirps when the gateway confirms, when police
acknowledge and when officers are dispatched; ``silent`` (silent mode, later) keeps it quiet.
"""

import asyncio
import time

from micropython import const

from panic import log

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from panic.hal import Switch
    from panic.supervisor import Supervisor

IDLE = "idle"
SENDING = "sending"
RECEIVED = "received"
ACKNOWLEDGED = "acknowledged"
ON_THE_WAY = "on_the_way"
FAULT = "fault"
IDENTIFY = "identify"

PATTERNS = {
    IDLE: (50, 2950),
    SENDING: (100, 100),
    RECEIVED: (500, 500),
    ACKNOWLEDGED: (1000,),  # one element: steady on
    ON_THE_WAY: (1800, 200),  # steady with a short dark gap: told apart from acknowledged at a glance
    FAULT: (100, 150, 100, 1650),
    IDENTIFY: (250, 250),
}
_CHIRP_MS = const(150)
_SLICE_MS = const(50)  # how often a running pattern looks for a state change


class Indicator:
    def __init__(self, led: Switch, buzzer: Switch | None, sup: Supervisor, fault_led: Switch | None = None) -> None:
        self.led = led
        self.buzzer = buzzer
        self.fault_led = fault_led
        self.sup = sup
        self.state = FAULT  # until the app knows better (no config, no link yet)
        log.info("indicator", "state=%s prev=none why=boot" % FAULT)
        self.silent = False
        self._led_on = False
        self._chirping = False
        self._chirp_until = time.ticks_ms()
        if fault_led is not None:
            fault_led.set(True)  # the state starts as fault

    def set(self, state: str, why: str) -> None:
        if state == self.state:
            return
        if state not in PATTERNS:
            raise ValueError("unknown indicator state")
        log.info("indicator", "state=%s prev=%s why=%s" % (state, self.state, why))
        self.state = state
        if self.fault_led is not None:
            self.fault_led.set(state == FAULT)
        if self.buzzer is not None and not self.silent and state in (RECEIVED, ACKNOWLEDGED, ON_THE_WAY):
            self.buzzer.set(True)
            self._chirping = True
            self._chirp_until = time.ticks_add(time.ticks_ms(), _CHIRP_MS)

    def _light(self, on: bool) -> None:
        if on != self._led_on:
            self._led_on = on
            self.led.set(on)

    def _quiet_buzzer(self) -> None:
        if self._chirping and time.ticks_diff(time.ticks_ms(), self._chirp_until) >= 0:
            self._chirping = False
            if self.buzzer is not None:
                self.buzzer.set(False)

    async def run(self) -> None:
        slot = self.sup.register("indicator", 3000)
        while True:
            state = self.state
            pattern = PATTERNS[state]
            i = 0
            while state == self.state:
                self._light(i % 2 == 0)
                duration = pattern[i]
                waited = 0
                while waited < duration and state == self.state:
                    self.sup.alive(slot)
                    self._quiet_buzzer()
                    step = duration - waited
                    if step > _SLICE_MS:
                        step = _SLICE_MS
                    await asyncio.sleep_ms(step)
                    waited += step
                i += 1
                if i == len(pattern):
                    i = 0
