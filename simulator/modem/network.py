"""The emulated operator: carries SMS between emulated modems by number, and plays its faults.

In-process and tiny: no SMSC protocol; one timing figure, `sms_delay_s` (how long an
SMS takes from the sender's +CMGS to the receiving modem: 0 by default, a field
figure in bench/cellular.py). An SMS to a modem that
is not registered waits (store and forward, as an SMSC does) until it is; an SMS
to a number no emulated modem has is dropped. Faults: `lose_sms(n)` (the next n
SMS vanish after the sender was told +CMGS OK, as a real network may do),
`refuse_data` (ATD*99# answers NO CARRIER), and per modem registration and
reboots (simulator/modem/emulator.py).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.modem.emulator import EmulatedModem

log = logging.getLogger("simulator.modem.network")


@dataclass(frozen=True)
class Sms:
    sender: str
    to: str
    text: str
    alphabet: str = "gsm7"  # gsm7 or ucs2
    concat: tuple[int, int, int] | None = None  # (reference, parts, part) of a concatenated message
    timestamp: str = ""  # the service centre's time stamp (semi-octets), set when it enters the network


def service_centre_time(at: float) -> str:
    """TS 23.040 time stamp of `at` (UTC): 7 octets of swapped semi-octets, zone +0."""
    digits = time.strftime("%y%m%d%H%M%S", time.gmtime(at)) + "00"
    return "".join(digits[i + 1] + digits[i] for i in range(0, 14, 2))


class Network:
    def __init__(self, sms_delay_s: float = 0.0) -> None:
        self.sms_delay_s = sms_delay_s
        self.modems: dict[str, EmulatedModem] = {}
        self.refuse_data = False
        self.sent: list[Sms] = []  # every SMS that entered the network, delivered or not
        self._lose = 0
        self._waiting: list[Sms] = []
        self._lock = threading.Lock()
        self._clock = time.time()

    def attach(self, modem: EmulatedModem) -> None:
        with self._lock:
            self.modems[modem.number] = modem

    def lose_sms(self, count: int = 1) -> None:
        """The next `count` SMS are lost after being accepted."""
        with self._lock:
            self._lose += count

    def submit(self, sms: Sms) -> None:
        """An SMS enters the network (a modem's AT+CMGS, or `inject` from a phone outside the emulation)."""
        with self._lock:
            # Each SMS gets a time stamp of its own, a second apart at least, as SMSC time stamps are.
            self._clock = max(self._clock + 1, time.time())
            sms = Sms(sms.sender, sms.to, sms.text, sms.alphabet, sms.concat, service_centre_time(self._clock))
            self.sent.append(sms)
            if self._lose:
                self._lose -= 1
                log.info("network: lost an SMS from %s to %s", sms.sender, sms.to)
                return
            if self.sms_delay_s <= 0:
                self._waiting.append(sms)
        if self.sms_delay_s > 0:
            timer = threading.Timer(self.sms_delay_s, self._arrive, args=(sms,))
            timer.daemon = True
            timer.start()
            return
        self.flush()

    def _arrive(self, sms: Sms) -> None:
        """An SMS that was on its way (sms_delay_s) reaches the network's store: delivered when it can be."""
        with self._lock:
            self._waiting.append(sms)
        self.flush()

    def inject(self, sender: str, to: str, text: str, *, alphabet: str = "gsm7",
               concat: tuple[int, int, int] | None = None) -> None:
        """An SMS from a phone that is not emulated (a forger, an operator's notice, a UCS-2 text)."""
        self.submit(Sms(sender, to, text, alphabet, concat))

    def flush(self) -> None:
        """Deliver what waits for modems that are registered now."""
        with self._lock:
            waiting, self._waiting = self._waiting, []
            kept = []
            for sms in waiting:
                modem = self.modems.get(sms.to)
                if modem is None:
                    log.info("network: no subscriber %s; SMS dropped", sms.to)
                elif modem.registered:
                    modem.receive(sms)
                else:
                    kept.append(sms)
            self._waiting = kept + self._waiting
