"""Message bodies and topics of wire contract v1 (protocol/README.md).

Bodies are formatted directly rather than through json.dumps: every value is
an int, null, or a string from a fixed set (type, pwr, net, src), the
validated device id or a checked firmware version, so no escaping is needed,
the member order is stable and the bytes are as small as they can be. The
signature is appended by sign.py.

Every number written is an integer inside its range (protocol/README.md,
"Numbers and their ranges"), whatever the hardware reported, so the gateway
never has to reject a reading (protocol/vectors/bounds.json pins the rules):

- seq and ref are this device's own counters: outside 1 .. 2^53-1 is a bug,
  and ValueError is raised rather than a message signed that would be refused;
- ts outside 0 .. 2^32-1 is a clock that cannot be right: null (unknown);
- up, bat and rssi are clamped to the nearest end of their range (a gauge
  reading 103 % is full; -160 dBm is no signal);
- a location with any number out of range is no fix: loc is null and the
  gateway falls back to the registered premises. Clamping would lie about
  where the button is, how exact or how old the fix is.

A reading that is not an int (a float from a driver) is truncated by int().
"""

PREFIX = "panic/v1/dev/"
ALERT_TYPES = ("sos", "silent_sos", "cancel", "test", "tamper", "power_lost", "battery_low")
ACK_STATES = ("received", "acknowledged", "dispatched", "resolved", "cancelled")
LOC_SOURCES = ("gps", "last_gps")
OFFLINE = b'{"state":"offline"}'

MAX_SEQ = (1 << 53) - 1  # also the highest up (ms)
MAX_TS = (1 << 32) - 1
RSSI_MIN = -150  # dBm; the highest is 0
MAX_LAT_E7 = 900000000  # 90 degrees in 1e-7 degrees
MAX_LON_E7 = 1800000000
MAX_ACC_M = 100000
MAX_AGE_S = 31536000  # 365 days
MAX_VERSION = 32
_VERSION_PUNCTUATION = ".+_-"


def topic(dev: str, leaf: str) -> str:
    return PREFIX + dev + "/" + leaf


def _clamp(v: int, low: int, high: int) -> int:
    v = int(v)
    return low if v < low else high if v > high else v


def _opt(v: int | None, low: int, high: int) -> str:
    return "null" if v is None else str(_clamp(v, low, high))


def _counter(name: str, v: int) -> int:
    v = int(v)
    if not 1 <= v <= MAX_SEQ:
        raise ValueError(name + " out of range")
    return v


def _ts(v: int | None) -> str:
    if v is None:
        return "null"
    v = int(v)
    return str(v) if 0 <= v <= MAX_TS else "null"


def _degrees(e7: int) -> str:
    # Integer 1e-7 degrees to exact decimal text: no float ever touches a coordinate.
    sign = "-" if e7 < 0 else ""
    e7 = -e7 if e7 < 0 else e7
    return "%s%d.%07d" % (sign, e7 // 10000000, e7 % 10000000)


def location(loc: tuple[int, int, int, str, int] | None) -> str:
    """`loc` as JSON text from (lat_e7, lon_e7, acc_m, src, age_s): null without a usable fix."""
    if loc is None:
        return "null"
    lat, lon, acc, src, age = int(loc[0]), int(loc[1]), int(loc[2]), loc[3], int(loc[4])
    if (
        src not in LOC_SOURCES
        or not -MAX_LAT_E7 <= lat <= MAX_LAT_E7
        or not -MAX_LON_E7 <= lon <= MAX_LON_E7
        or not 0 <= acc <= MAX_ACC_M
        or not 0 <= age <= MAX_AGE_S
    ):
        return "null"
    return '{"lat":%s,"lon":%s,"acc":%d,"src":"%s","age":%d}' % (_degrees(lat), _degrees(lon), acc, src, age)


def _common(ts: int | None, up: int, bat: int | None, rssi: int | None) -> tuple[str, int, str, str]:
    return _ts(ts), _clamp(up, 0, MAX_SEQ), _opt(bat, 0, 100), _opt(rssi, RSSI_MIN, 0)


def alert(
    dev: str, seq: int, kind: str, ts: int | None, up: int, bat: int | None, pwr: str, net: str,
    rssi: int | None, ref: int | None = None, loc: tuple[int, int, int, str, int] | None = None,
) -> bytes:
    if kind not in ALERT_TYPES:
        raise ValueError("unknown alert type")
    ts_, up_, bat_, rssi_ = _common(ts, up, bat, rssi)
    # loc stays null until the GPS task exists: the gateway falls back to the premises.
    body = '{"v":1,"dev":"%s","seq":%d,"type":"%s","ts":%s,"up":%d,"loc":%s,"bat":%s,"pwr":"%s","net":"%s","rssi":%s' % (
        dev, _counter("seq", seq), kind, ts_, up_, location(loc), bat_, pwr, net, rssi_,
    )
    if ref is not None:
        body += ',"ref":%d' % _counter("ref", ref)
    return (body + "}").encode()


def heartbeat(dev: str, seq: int, ts: int | None, up: int, bat: int | None, pwr: str, net: str, rssi: int | None) -> bytes:
    ts_, up_, bat_, rssi_ = _common(ts, up, bat, rssi)
    return (
        '{"v":1,"dev":"%s","seq":%d,"ts":%s,"up":%d,"bat":%s,"pwr":"%s","net":"%s","rssi":%s}'
        % (dev, _counter("seq", seq), ts_, up_, bat_, pwr, net, rssi_)
    ).encode()


def _is_version(fw: str) -> bool:
    # ^[0-9A-Za-z][0-9A-Za-z.+_-]{0,31}$, spelled out: MicroPython's re is small.
    if not 1 <= len(fw) <= MAX_VERSION:
        return False
    for i, c in enumerate(fw):
        if not ("0" <= c <= "9" or "a" <= c <= "z" or "A" <= c <= "Z" or (i and c in _VERSION_PUNCTUATION)):
            return False
    return True


def online(fw: str, up: int) -> bytes:
    """The birth message; a version the gateway would refuse is left out (fw is optional)."""
    up_ = _clamp(up, 0, MAX_SEQ)
    if _is_version(fw):
        return ('{"state":"online","fw":"%s","up":%d}' % (fw, up_)).encode()
    return ('{"state":"online","up":%d}' % up_).encode()
