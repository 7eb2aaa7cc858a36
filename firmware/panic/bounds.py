"""The integer settings of config.json: name, default and range (panic.config.settings checks them).

A module of its own, loaded only while settings are checked, so that a ``config`` command
(panic/command.py) checks its arguments without all of panic.config, and a console request
that loads panic.cfgbase does not carry these tuples. Unloaded right after the import (by
panic.config.settings and panic.command.check: their frames keep `_INTS`).
"""

# name, default, lowest, highest
_INTS = (  # not const(): panic.config and panic.command import it
    ("broker_port", 1883, 1, 65535),
    ("heartbeat_s", 30, 1, 86400),
    ("hold_ms", 2000, 100, 30000),
    ("keepalive_s", 60, 5, 3600),
    ("retry_min_ms", 2000, 50, 3600000),  # first retransmission of an unacked alert
    ("retry_max_ms", 60000, 50, 3600000),  # retransmission back-off cap
    ("reconnect_min_ms", 1000, 50, 3600000),  # first reconnect delay, doubled with jitter
    ("reconnect_max_ms", 30000, 50, 3600000),
    ("outbox_max", 32, 1, 1000),
    ("seq_block", 64, 1, 100000),
    ("wdt_ms", 10000, 2000, 120000),
    # gestures and device events (docs/firmware.md, "Gestures and events": defaults and why)
    ("cancel_ms", 10000, 3000, 60000),  # hold that cancels, within cancel_window_s of an alert
    ("cancel_window_s", 120, 0, 3600),  # 0: no cancel gesture
    ("taps_ms", 3000, 500, 10000),  # three short presses within -> silent_sos
    ("repeat_ms", 30000, 0, 600000),  # the same gesture / event again within: coalesced
)
