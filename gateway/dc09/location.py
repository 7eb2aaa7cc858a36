"""Location as DC-09 extended data: `[X<longitude>]` and `[Y<latitude>]`.

Degrees WGS 84 as signed decimal text with 7 decimals, built from integers in
units of 1e-7 degree so nothing is rounded on the way (`-105.2612345` is the
longest value: 12 characters, the length pysiaalarm's table gives X and Y).
"""

from __future__ import annotations

from dataclasses import dataclass

SCALE = 10_000_000


def degrees_text(value_e7: int) -> str:
    sign = "-" if value_e7 < 0 else ""
    whole, fraction = divmod(abs(value_e7), SCALE)
    return f"{sign}{whole}.{fraction:07d}"


def parse_degrees(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    whole, _, fraction = text.lstrip("-").partition(".")
    if not whole.isdigit() or not fraction.isdigit() or len(fraction) > 7:
        raise ValueError(f"not a coordinate: {text!r}")
    return sign * (int(whole) * SCALE + int(fraction.ljust(7, "0")))


@dataclass(frozen=True)
class Location:
    lat_e7: int
    lon_e7: int

    def __post_init__(self) -> None:
        if not -90 * SCALE <= self.lat_e7 <= 90 * SCALE or not -180 * SCALE <= self.lon_e7 <= 180 * SCALE:
            raise ValueError(f"coordinates out of range: {self.lat_e7}, {self.lon_e7} (1e-7 degree)")

    def extended_data(self) -> tuple[str, str]:
        return "X" + degrees_text(self.lon_e7), "Y" + degrees_text(self.lat_e7)

    @classmethod
    def from_extended_data(cls, blocks: tuple[str, ...]) -> Location | None:
        found = {block[0]: block[1:] for block in blocks if block[:1] in ("X", "Y")}
        if "X" not in found or "Y" not in found:
            return None
        return cls(lat_e7=parse_degrees(found["Y"]), lon_e7=parse_degrees(found["X"]))
