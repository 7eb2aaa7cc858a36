"""Degrees as exact integers of 1e-7 degree, parsed from decimal text, never through a float.

JSON files are read with `parse_float=Decimal`, so their numbers arrive here
as Decimal too. More than 7 decimals are rounded half-even to the nearest
1e-7 degree (about 1 cm): exact arithmetic, documented in docs/stations.md.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

E7 = 10_000_000
_LIMIT = {"lat": 90 * E7, "lon": 180 * E7}


def degrees_e7(value: object, axis: str) -> int:
    """`value` (decimal text, Decimal or int; not a float, not a bool) as integer 1e-7 degrees.

    ValueError says why it is not a valid latitude (`axis` "lat") or longitude ("lon")."""
    if isinstance(value, bool) or not isinstance(value, str | Decimal | int):
        raise ValueError(f"{axis} {value!r} is not a decimal number")
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{axis} {value!r} is not a decimal number") from None
    if not number.is_finite():
        raise ValueError(f"{axis} {value!r} is not a finite number")
    limit = _LIMIT[axis]
    if abs(number) > limit // E7:  # before scaling: a huge exponent would overflow the context
        raise ValueError(f"{axis} {value} is outside ±{limit // E7}")
    return int(number.scaleb(7).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def location_e7(lat: object, lon: object) -> tuple[int, int]:
    """An exact (lat, lon). 0,0 is refused: in station lists it means a missing position."""
    lat_e7, lon_e7 = degrees_e7(lat, "lat"), degrees_e7(lon, "lon")
    if lat_e7 == 0 and lon_e7 == 0:
        raise ValueError("location 0,0 is in the Gulf of Guinea: the position is missing")
    return lat_e7, lon_e7


def decimal_text(e7: int) -> str:
    """Integer 1e-7 degrees as the shortest exact decimal text, e.g. -54178901 -> "-5.4178901"."""
    text = format(Decimal(e7).scaleb(-7), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def float_degrees_e7(value: float, axis: str) -> int:
    """Integer 1e-7 degrees of a float that came from a decimal with at most 7 places.

    Only for coordinates another part already turned into floats (a device's
    `loc`, which gateway.protocol checks has at most 7 decimals): a double's
    shortest repr gives back that decimal exactly."""
    return degrees_e7(repr(float(value)), axis)
