"""The ordered list of bearers of a button with both Wi-Fi and cellular data configured (panic.cellular.start).

Each connection attempt of panic.link.Link takes the first bearer that is (or
comes) up: Wi-Fi, waiting up to 20 s for it only while it was the last one
that worked (it reconnects in the background otherwise), then cellular data.
While the session runs on cellular, a Wi-Fi that comes back ends it (checked
every 5 s; Wi-Fi's connect is repeated every 30 s meanwhile) and the next
attempt takes Wi-Fi: the button returns to the better link by itself.
Installed on the link as its ``_wifi`` (the bearer step of Link.run); the
link's ``hw.wifi`` is the active bearer (its ``net`` names it).
"""

import asyncio

from micropython import const

from panic import log

TYPE_CHECKING = const(False)  # a constant: the block below is compiled away
if TYPE_CHECKING:
    from panic.cellular import Cell
    from panic.link import Link

_WIFI_WAIT_MS = const(20000)
_CELL_WAIT_MS = const(240000)  # the bearer's own steps all have deadlines; this bounds one attempt
_BETTER_MS = const(5000)
_WIFI_KICK_MS = const(30000)
_POLL_MS = const(100)


class Bearers:
    def __init__(self, link: Link, cell: Cell) -> None:
        self.link = link
        self._specs = (("wifi", link.hw.wifi, _WIFI_WAIT_MS), ("cell", cell, _CELL_WAIT_MS))
        self.net = "wifi"  # the active one's
        link._wifi = self._wifi  # type: ignore[method-assign]
        asyncio.create_task(self._watch())

    async def _wifi(self, slot: int) -> bool:
        """The first bearer that is (or comes) up becomes the link's ``wifi`` (the active bearer) and ``net``."""
        link = self.link
        cfg = link.cfg
        for net, bearer, wait_ms in self._specs:
            if not bearer.isconnected():
                if net != self.net and net == "wifi":
                    wait_ms = 0  # Wi-Fi failed before: it reconnects in the background; no wait
                log.info("link", "bearer connecting net=%s" % net)
                bearer.connect(cfg.wifi_ssid, cfg.wifi_password)
                waited = 0
                while not bearer.isconnected() and waited < wait_ms:
                    link.sup.alive(slot)
                    await asyncio.sleep_ms(_POLL_MS)
                    waited += _POLL_MS
            if bearer.isconnected():
                self.net, link.hw.wifi = net, bearer  # type: ignore[misc]
                log.info("link", "bearer up net=%s rssi=%s" % (net, bearer.rssi()))
                return True
            log.warn("link", "bearer timeout net=%s" % net)
        self.net, link.hw.wifi = "wifi", self._specs[0][1]  # type: ignore[misc]
        return False

    async def _watch(self) -> None:
        """While on cellular, end the session as soon as Wi-Fi is up again."""
        link = self.link
        wifi = self._specs[0][1]
        kicked = 0
        while True:
            await asyncio.sleep_ms(_BETTER_MS)
            if link.connected and self.net != "wifi":
                if wifi.isconnected():
                    log.info("link", "better bearer up net=wifi")
                    link._reading = False  # ends the session (panic.link); the next attempt takes Wi-Fi
                else:
                    kicked += _BETTER_MS
                    if kicked >= _WIFI_KICK_MS:
                        kicked = 0
                        wifi.connect(link.cfg.wifi_ssid, link.cfg.wifi_password)
