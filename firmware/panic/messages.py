"""Message bodies and topics of wire contract v1 (protocol/README.md).

Bodies are formatted directly rather than through json.dumps: every value is
an int, null, or a string from a fixed set (type, pwr, net) or the validated
device id, so no escaping is needed, the member order is stable and the
bytes are as small as they can be. The signature is appended by sign.py.
"""

PREFIX = "panic/v1/dev/"
ALERT_TYPES = ("sos", "silent_sos", "cancel", "test", "tamper", "power_lost", "battery_low")
ACK_STATES = ("received", "acknowledged", "dispatched", "resolved", "cancelled")
OFFLINE = b'{"state":"offline"}'


def topic(dev: str, leaf: str) -> str:
    return PREFIX + dev + "/" + leaf


def _opt(v: int | None) -> str:
    return "null" if v is None else str(int(v))


def alert(
    dev: str, seq: int, kind: str, ts: int | None, up: int, bat: int | None, pwr: str, net: str,
    rssi: int | None, ref: int | None = None,
) -> bytes:
    if kind not in ALERT_TYPES:
        raise ValueError("unknown alert type")
    # loc is null until the GPS task exists: the gateway falls back to the premises.
    body = '{"v":1,"dev":"%s","seq":%d,"type":"%s","ts":%s,"up":%d,"loc":null,"bat":%s,"pwr":"%s","net":"%s","rssi":%s' % (
        dev, seq, kind, _opt(ts), up, _opt(bat), pwr, net, _opt(rssi),
    )
    if ref is not None:
        body += ',"ref":%d' % ref
    return (body + "}").encode()


def heartbeat(dev: str, seq: int, ts: int | None, up: int, bat: int | None, pwr: str, net: str, rssi: int | None) -> bytes:
    return (
        '{"v":1,"dev":"%s","seq":%d,"ts":%s,"up":%d,"bat":%s,"pwr":"%s","net":"%s","rssi":%s}'
        % (dev, seq, _opt(ts), up, _opt(bat), pwr, net, _opt(rssi))
    ).encode()


def online(fw: str, up: int) -> bytes:
    return ('{"state":"online","fw":"%s","up":%d}' % (fw, up)).encode()
