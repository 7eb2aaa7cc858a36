"""An alert's life: its states, the moves between them, and who is told (docs/operations.md, "Lifecycle").

    new ─→ acknowledged ─→ dispatched ─→ on_scene ─→ resolved
     │  (forward only; a step may be skipped)         ends: resolved, false_alarm, cancelled
     └─ the presser's cancel request ─→ cancel_requested ─→ police decide (any state but new)

Pure definitions, no I/O: storage checks moves with `allowed`, the pipeline
asks `shown_to_device`, escalation asks `escalates` and `escalation_stations`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

# The order police move an alert along; a move goes forward (skipping is allowed).
FORWARD = ("new", "acknowledged", "dispatched", "on_scene", "resolved")
ENDS = frozenset({"resolved", "false_alarm", "cancelled"})
# What dispatch (MQTT panic/v1/dispatch/ack, POST /alerts/{id}/ack) may set.
PoliceState = Literal["acknowledged", "dispatched", "on_scene", "resolved", "false_alarm", "cancelled"]
POLICE_STATES: tuple[PoliceState, ...] = ("acknowledged", "dispatched", "on_scene", "resolved", "false_alarm",
                                          "cancelled")
# Entered when the presser's button asks to cancel (the device's cancel gesture); police confirm.
CANCEL_REQUESTED = "cancel_requested"
STATES = (*FORWARD, "false_alarm", "cancelled", CANCEL_REQUESTED)
# No police answer yet: escalation goes on. A cancel request does not stop it (a presser may be
# made to cancel); any police state does.
UNANSWERED = ("new", CANCEL_REQUESTED)
# The states the button is told (a signed device ack): its LED follows them.
SHOWN_TO_DEVICE = frozenset({"acknowledged", "dispatched", "on_scene", "resolved", "cancelled", "false_alarm"})
# Alert types that escalate and notify: the ones that call for police. A test, a cancel, a device
# event (tamper, power, battery: dispatch events, not alerts) does not.
EMERGENCY_TYPES = frozenset({"sos", "silent_sos"})
# Events that notify people besides dispatch (gateway/notify/).
NOTIFY_ON_END = frozenset({"resolved", "false_alarm", "cancelled"})


def allowed(current: str, new: str) -> bool:
    """May an alert in `current` become `new`?

    Police move forward through FORWARD, or end it as a false alarm or cancelled, from any state
    that is not an end. The button may ask to cancel from any state that is not an end. From
    cancel_requested, police may go to any state but `new`. Ends are final.
    """
    if current in ENDS or new == current or new == "new" or new not in STATES or current not in STATES:
        return False
    if new == CANCEL_REQUESTED or current == CANCEL_REQUESTED or new in ("false_alarm", "cancelled"):
        return True
    return FORWARD.index(new) > FORWARD.index(current)


def map_false_alarm(state: str, false_alarm: bool) -> str:
    """The acknowledgement's `false_alarm` flag (protocol v1 before `false_alarm` was a state).

    `{"state": "resolved" | "cancelled", "false_alarm": true}` closes the alert as a false alarm,
    exactly as `{"state": "false_alarm"}` does. With any other state the flag is an error (ValueError):
    only an end can say the alert was false.
    """
    if not false_alarm or state == "false_alarm":
        return state
    if state in ("resolved", "cancelled"):
        return "false_alarm"
    raise ValueError(f"false_alarm: true closes an alert: send state false_alarm (not {state})")


def escalates(alert_type: str, test: bool = False) -> bool:
    return alert_type in EMERGENCY_TYPES and not test


@dataclass(frozen=True)
class Step:
    """One escalation level: who is told now, and whether there is anyone above to tell later."""

    level: int
    stations: tuple[str, ...]
    more: bool


def escalation_step(level: int, candidates: Sequence[str], chain: Sequence[str], max_level: int) -> Step:
    """Escalation `level` (1, 2, ...) of an alert routed to a station.

    `candidates`: the routed candidates (nearest first); `chain`: the responsible station's
    parent, grandparent, ... Level n tells candidate n and ancestor n (the n-th up the tree);
    there is a next level while it is below `max_level` and someone is left to tell: a further
    candidate or a station higher up (the top, a station with no parent, ends it).
    An unrouted alert escalates once, to the all-alerts topic only.
    """
    told = tuple(dict.fromkeys(s for s in (_at(candidates, level), _at(chain, level)) if s is not None))
    more = level < max_level and (len(candidates) > level or len(chain) > level)
    return Step(level, told, more)


def _at(items: Sequence[str], level: int) -> str | None:
    return items[level - 1] if len(items) >= level else None
