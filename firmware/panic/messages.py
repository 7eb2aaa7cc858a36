"""Message bodies and topics of wire contract v1 (protocol/README.md).

Bodies are formatted directly rather than through json.dumps: every value is
an int, null, or a string from a fixed set (type, pwr, net), the validated
device id or the firmware's own version, so no escaping is needed, the
member order is stable and the bytes are as small as they can be. The
signature is appended by sign.py.

Every number written is an integer inside its range (protocol/README.md,
"Numbers and their ranges"), whatever the hardware reported; the rules are
pinned by protocol/vectors/bounds.json:

- seq and ref are this device's own counters: outside 1 .. 2^53-1 is a bug,
  and ValueError is raised rather than a message signed that would be refused;
- ts outside 0 .. 2^32-1 is a clock that cannot be right: null (unknown);
- up, bat and rssi are clamped to the nearest end of their range (a gauge
  reading 103 % is full; -160 dBm is no signal);
- loc is JSON text made by panic/fix.py from a fix (a fix with any number
  out of range is no fix: null); that module is imported by whoever has a
  fix, so it costs no heap before the GPS task exists.

A reading that is not an int (a float from a driver) is truncated by int().
Kept small: this module's code lives on the 110 KB heap, and the simulated
button (which compiles it from source) boots with little to spare: no
big-int constants, one shared body formatter.
"""

PREFIX = "panic/v1/dev/"
ALERT_TYPES = (
    "sos", "silent_sos", "cancel", "test", "tamper", "power_lost", "battery_low",
    "tamper_restored", "power_restored", "battery_restored",
)
ACK_STATES = ("received", "acknowledged", "dispatched", "on_scene", "resolved", "cancelled", "false_alarm")
OFFLINE = b'{"state":"offline"}'


def topic(dev: str, leaf: str) -> str:
    return PREFIX + dev + "/" + leaf


def _num(v: int | None, low: int, high: int, none: str = "null") -> str:
    return none if v is None else str(min(max(int(v), low), high))


def _body(
    dev: str, seq: int, ts: int | None, up: int, bat: int | None, pwr: str, net: str, rssi: int | None, more: str = "",
) -> bytes:
    # The members alerts and heartbeats share (member order is free), then `more`.
    if seq < 1 or seq >> 53:  # 1 .. 2^53-1, without a big-int constant on the heap
        raise ValueError("seq out of range")
    return ('{"v":1,"dev":"%s","seq":%d,"ts":%s,"up":%s,"bat":%s,"pwr":"%s","net":"%s","rssi":%s%s}' % (
        dev, seq, "null" if ts is None or not 0 <= ts <= 0xFFFFFFFF else int(ts), _num(up, 0, 9007199254740991),
        _num(bat, 0, 100), pwr, net, _num(rssi, -150, 0), more,
    )).encode()


def alert(
    dev: str, seq: int, kind: str, ts: int | None, up: int, bat: int | None, pwr: str, net: str,
    rssi: int | None, ref: int | None = None, loc: str = "null",
) -> bytes:
    # loc is JSON text from panic.fix.location (imported only once there is a fix), or null.
    if kind not in ALERT_TYPES or ref is not None and (ref < 1 or ref >> 53):
        raise ValueError("unknown alert type or ref out of range")
    more = ',"type":"%s","loc":%s' % (kind, loc)
    return _body(dev, seq, ts, up, bat, pwr, net, rssi, more if ref is None else more + ',"ref":%d' % ref)


def heartbeat(
    dev: str, seq: int, ts: int | None, up: int, bat: int | None, pwr: str, net: str, rssi: int | None, ep: int = 0,
) -> bytes:
    # ep: index of the broker endpoint in use (config "brokers").
    return _body(dev, seq, ts, up, bat, pwr, net, rssi, ',"ep":%s' % _num(ep, 0, 3))


def online(fw: str, up: int) -> bytes:
    # fw is panic.VERSION: tests/firmware/test_vectors.py holds it to device-status.json's pattern.
    return ('{"state":"online","fw":"%s","up":%s}' % (fw, _num(up, 0, 9007199254740991))).encode()
