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


def valid(loc: tuple[int, int, int, str, int]) -> bool:
    """Whether (lat_e7, lon_e7, acc_m, src, age_s) is a fix the contract can carry (also panic/smsfmt.py)."""
    return (
        loc[3] in ("gps", "last_gps")
        and -900000000 <= int(loc[0]) <= 900000000
        and -1800000000 <= int(loc[1]) <= 1800000000
        and 0 <= int(loc[2]) <= 100000  # metres: a worse fix does not even name the town
        and 0 <= int(loc[4]) <= 31536000  # 365 days: an older fix says less than the premises
    )


def location(loc: tuple[int, int, int, str, int]) -> str:
    """JSON text of (lat_e7, lon_e7, acc_m, src, age_s): the object, or null."""
    if not valid(loc):
        return "null"
    return '{"lat":%s,"lon":%s,"acc":%d,"src":"%s","age":%d}' % (
        _degrees(int(loc[0])), _degrees(int(loc[1])), int(loc[2]), loc[3], int(loc[4]))
