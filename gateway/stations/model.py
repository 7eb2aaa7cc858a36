"""What a station is, and the error an import is refused with."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["post", "security", "polsek", "polres", "polda"]
KINDS: tuple[Kind, ...] = ("post", "security", "polsek", "polres", "polda")
# Lower is more local. Breaks ties between coverage areas of the same size
# (docs/stations.md): a post or a private security company before the Polsek,
# the Polsek before its Polres, the Polres before the Polda.
KIND_LEVEL: dict[str, int] = {"post": 0, "security": 0, "polsek": 1, "polres": 2, "polda": 3}

# A station id is also a level of the topic panic/v1/dispatch/stations/{station}/alerts
# (protocol/schemas/dispatch-alert.json), hence this pattern.
STATION_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
RESERVED_IDS = ("import", "route")  # paths of the API beside /stations/{id}
MAX_NAME = 200
MAX_PHONE = 40
MAX_PHONES = 10


@dataclass(frozen=True)
class Station:
    """One station. Coordinates are integer 1e-7 degrees; `coverage` is GeoJSON text (or None)."""

    id: str
    name: str
    kind: Kind
    lat_e7: int
    lon_e7: int
    parent: str | None = None
    phones: tuple[str, ...] = ()
    coverage: str | None = None


@dataclass(frozen=True)
class Problem:
    """Why one part of a file was refused: `where` is e.g. "line 7" or "feature 3 (line 41)"."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


MAX_PROBLEMS = 100  # a file wrong everywhere is reported by its first problems, not megabytes of them


@dataclass
class ImportRefused(Exception):
    """A file (or a change) that was refused as a whole; nothing of it was stored.

    At most MAX_PROBLEMS problems are kept, the last saying how many more there were."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.problems) > MAX_PROBLEMS:
            more = len(self.problems) - MAX_PROBLEMS + 1
            self.problems = [*self.problems[:MAX_PROBLEMS - 1], Problem("file", f"{more} more problems not shown")]

    def __str__(self) -> str:
        shown = "; ".join(map(str, self.problems[:10]))
        more = len(self.problems) - 10
        return shown + (f"; and {more} more" if more > 0 else "")


def check_id(value: object) -> str:
    """The station id, or ValueError saying why it is not one."""
    if not isinstance(value, str) or not STATION_ID.fullmatch(value):
        raise ValueError(f"station id {value!r} must be 1-64 of a-z, 0-9, '_' or '-', starting with a letter or "
                         "digit (it is an MQTT topic level)")
    if value in RESERVED_IDS:
        raise ValueError(f"station id {value!r} is reserved (an API path: /stations/{value})")
    return value


def check_kind(value: object) -> Kind:
    for kind in KINDS:
        if value == kind:
            return kind
    raise ValueError(f"kind {value!r} is not one of {', '.join(KINDS)}")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_name(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise ValueError(f"name must be 1-{MAX_NAME} characters")
    # A name is put into SMS texts, log lines and the console: a line break or a terminal escape in it
    # would forge a line or garble a text, and is never part of a station's name.
    if _CONTROL.search(value):
        raise ValueError(f"name {value.strip()!r} has a control character")
    return value.strip()


def check_phones(values: list[str]) -> tuple[str, ...]:
    phones = tuple(p.strip() for p in values if p.strip())
    if len(phones) > MAX_PHONES:
        raise ValueError(f"at most {MAX_PHONES} phone numbers")
    for phone in phones:
        if len(phone) > MAX_PHONE or not re.fullmatch(r"\+?[0-9(][0-9 ()./-]*", phone):
            raise ValueError(f"phone {phone!r} is not a phone number (digits, spaces, + ( ) . / -)")
    return phones
