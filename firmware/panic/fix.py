"""A GPS fix as the alert's `loc` member (protocol/README.md, "Numbers and their ranges").

Whoever has a fix (the GPS task, still to come) imports this and passes
`location(...)` as messages.alert's `loc`, so it costs no heap before there
is one. Coordinates arrive as integer 1e-7 degrees and
are written as exact decimal text: no single-precision float touches them.
A fix with any number out of range, or a source other than gps / last_gps,
is no fix: loc is null and the gateway falls back to the registered
premises. Clamping would lie about where the button is, how exact or how
old the fix is.
"""


def _degrees(e7: int) -> str:
    sign = "-" if e7 < 0 else ""
    e7 = abs(e7)  # -5000000 // 10000000 would floor to -1
    return "%s%d.%07d" % (sign, e7 // 10000000, e7 % 10000000)


def location(loc: tuple[int, int, int, str, int]) -> str:
    """JSON text of (lat_e7, lon_e7, acc_m, src, age_s): the object, or null."""
    lat, lon, acc, age = int(loc[0]), int(loc[1]), int(loc[2]), int(loc[4])
    if (
        loc[3] not in ("gps", "last_gps")
        or not -900000000 <= lat <= 900000000
        or not -1800000000 <= lon <= 1800000000
        or not 0 <= acc <= 100000  # metres: a worse fix does not even name the town
        or not 0 <= age <= 31536000  # 365 days: an older fix says less than the premises
    ):
        return "null"
    return '{"lat":%s,"lon":%s,"acc":%d,"src":"%s","age":%d}' % (_degrees(lat), _degrees(lon), acc, loc[3], age)
