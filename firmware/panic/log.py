"""Console log, one event per line on stdout; and the uptime clock it stamps.

Format (parsed by tests and by the simulator; keep it stable)::

    <L> <uptime_ms> <module>: <message>[ <key>=<value> ...]

- ``L``: level, ``I`` (info) ``W`` (warning) or ``E`` (error).
- ``uptime_ms``: milliseconds since the firmware started (``uptime_ms()``).
- ``module``: a short lower-case word naming the part that logs: app, config,
  button, indicator, link, outbox, delivery, alert, ack, heartbeat, seq,
  supervisor, mem, cmd, hal (and sim in the simulator).
- ``message``: a few words, then ``key=value`` pairs. Values are tokens
  without spaces, or JSON strings in double quotes (``q()``) when they could
  contain spaces or arbitrary text.

Examples::

    I 1532 link: connected host=127.0.0.1 port=1883 attempt=1
    I 4120 outbox: stored seq=65 bytes=231 critical=1 persisted=1 entries=1
    W 4200 ack: rejected reason=bad_sig bad_sig=1

A line never starts with ``{``: the JSON request/response console protocol
that will share this UART tells its responses from log lines that way.
Secrets are never passed in: log fingerprints (config.fingerprint) instead.
"""

import json
import time

_last = time.ticks_ms()
_up = 0


def uptime_ms() -> int:
    """Milliseconds since start. ticks_ms() wraps (after ~12.4 days on the ESP32)
    and ticks_diff is valid over half of that, so uptime is accumulated from
    differences; the supervisor calls this every second to keep it exact."""
    global _last, _up
    now = time.ticks_ms()
    _up += time.ticks_diff(now, _last)
    _last = now
    return _up


def q(text: object) -> str:
    """Quote free text (error messages, names) so a line stays one token per value."""
    return json.dumps(str(text))


def _emit(level: str, module: str, message: str) -> None:
    if "\n" in message:
        message = message.replace("\n", "\\n")
    print(level, uptime_ms(), module + ":", message)


def info(module: str, message: str) -> None:
    _emit("I", module, message)


def warn(module: str, message: str) -> None:
    _emit("W", module, message)


def error(module: str, message: str) -> None:
    _emit("E", module, message)


def exc(module: str, message: str, e: BaseException) -> None:
    """Log an unexpected exception on one line (type and text, no traceback)."""
    _emit("E", module, message + " exc=" + type(e).__name__ + " err=" + q(e))
