"""What each broker account may publish and subscribe to (wire contract v1).

The single source of the broker's access rules, as Mosquitto dynamic-security
roles. `broker/run.py` writes them into the plugin's config at every start,
and `broker/accounts.py` gives each device its own role when it is issued.

Rules that shape these roles (Mosquitto 2.0.11's dynamic-security plugin):
- Defaults deny everything but unsubscribing: an account gets only what its
  role lists.
- Subscriptions are checked when made, so a SUBSCRIBE outside the role gets
  SUBACK 0x80 instead of being granted and then filtered at delivery. That
  is what stops a device joining `$share/<group>/...` and silently taking its
  turn of other devices' alerts (a granted-but-unreadable shared
  subscription swallows the messages handed to it).
- The subscribe check sees the full filter, `$share/<group>/` included, so
  the gateway's role lists its shared forms explicitly; no other role has any.
- Role ACLs do not expand `%u` (2.0.11), so each device has its own role
  naming its own topics.
- Deliveries are checked too (`publishClientReceive`), so a subscription that
  predates these rules (kept in a persistent session) still reads nothing
  outside the role.
"""

from __future__ import annotations

from typing import Any

PREFIX = "panic/v1"
ADMIN, GATEWAY, DISPATCH = "admin", "gateway", "dispatch"
SERVICE_ACCOUNTS = (ADMIN, GATEWAY, DISPATCH)
CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
CONTROL_RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"

# A device publishes under its own id (its answers to commands on `result`) and reads only its own
# acks and commands.
DEVICE_WRITES = ("alert", "hb", "status", "result")
DEVICE_READS = ("ack", "cmd")

GATEWAY_READS = (
    f"{PREFIX}/dev/+/alert",
    f"{PREFIX}/dev/+/hb",
    f"{PREFIX}/dev/+/status",
    f"{PREFIX}/dev/+/result",
    f"{PREFIX}/dispatch/ack",
    f"{PREFIX}/dispatch/receipt",
)
GATEWAY_WRITES = (
    f"{PREFIX}/dev/+/ack",
    f"{PREFIX}/dev/+/cmd",
    f"{PREFIX}/dispatch/alerts",
    f"{PREFIX}/dispatch/stations/+/alerts",
    f"{PREFIX}/dispatch/events",
)
DISPATCH_READS = (
    f"{PREFIX}/dispatch/alerts",
    f"{PREFIX}/dispatch/stations/+/alerts",
    f"{PREFIX}/dispatch/events",
)
DISPATCH_WRITES = (
    f"{PREFIX}/dispatch/ack",
    f"{PREFIX}/dispatch/receipt",
)

# Everything not granted by a role is refused.
DEFAULT_ACL_ACCESS = {
    "publishClientSend": False,
    "publishClientReceive": False,
    "subscribe": False,
    "unsubscribe": True,
}

Acl = dict[str, Any]


def _acl(acltype: str, topic: str) -> Acl:
    return {"acltype": acltype, "topic": topic, "priority": 0, "allow": True}


def writes(*topics: str) -> list[Acl]:
    return [_acl("publishClientSend", t) for t in topics]


def reads(*topics: str, shared: bool = False) -> list[Acl]:
    """Subscribe to and receive `topics`; with `shared`, also as `$share/<any group>/topic`."""
    filters = [*topics, *(f"$share/+/{t}" for t in topics)] if shared else list(topics)
    return [_acl("subscribePattern", f) for f in filters] + [_acl("publishClientReceive", t) for t in topics]


def service_roles() -> dict[str, list[Acl]]:
    """Role name -> ACLs of the three service accounts (each has the role of its own name)."""
    return {
        # Manages accounts through the plugin's control topic, and nothing else.
        ADMIN: writes(CONTROL_TOPIC) + reads(CONTROL_RESPONSE_TOPIC),
        # Several gateways share the device and dispatch-ack topics through
        # $share/<PANIC_MQTT_SHARED_GROUP>/...; any group name is allowed.
        GATEWAY: writes(*GATEWAY_WRITES) + reads(*GATEWAY_READS, shared=True),
        DISPATCH: writes(*DISPATCH_WRITES) + reads(*DISPATCH_READS),
    }


def device_role_name(device: str) -> str:
    return f"device-{device}"


def device_acls(device: str) -> list[Acl]:
    own = f"{PREFIX}/dev/{device}"
    return writes(*(f"{own}/{leaf}" for leaf in DEVICE_WRITES)) + reads(*(f"{own}/{leaf}" for leaf in DEVICE_READS))


def check_device_username(user: str) -> None:
    """Refuse a name that would widen the device's ACLs or take a service account."""
    if not user or any(c in user for c in "/+#") or not user.isprintable():
        raise ValueError("a device's broker username must be non-empty, printable, without '/', '+' or '#'")
    if user in SERVICE_ACCOUNTS:
        raise ValueError(f"{user!r} is a service account, not a device")


# --- The same rules as NATS subject permissions (broker/nats.py) -------------------------------
# NATS's MQTT listener maps a topic to a subject ('/' → '.', '+' → '*', '#' → '>') and checks
# the user's subject permissions on PUBLISH and when a SUBSCRIBE is made (SUBACK 0x80 when
# refused). A QoS 1 subscription is delivered through an internal subscription on
# `$MQTT.sub.<random>` that the user's permissions must allow; MQTT clients cannot subscribe
# there themselves (nats-server refuses any MQTT filter starting with it).
NATS_MQTT_DELIVERY = "$MQTT.sub.>"
# Which protocols an account may log in with. MQTT sessions need `$MQTT.sub.>` above, and over the
# NATS protocol that one permission would read every account's QoS 1 deliveries (other devices'
# acks and commands, dispatch alerts): devices and dispatch speak MQTT only. The gateway also
# uses the NATS protocol (its JetStream consumers and heartbeat queue group).
NATS_MQTT_ONLY = ["MQTT"]
NATS_GATEWAY_CONNECTIONS = ["STANDARD", "MQTT"]
# Gateways share the device topics through JetStream (gateway/nats_inbound.py): one durable
# pull consumer over the MQTT message stream, heartbeats through a queue group.
NATS_MQTT_STREAM = "$MQTT_msgs"


def nats_subject(topic: str) -> str:
    """The NATS subject of an MQTT topic or filter of this project (no '.' or ' ' in it)."""
    if "." in topic or " " in topic:
        raise ValueError(f"{topic!r}: NATS cannot carry an MQTT topic with '.' or ' '")
    return "/".join({"+": "*", "#": ">"}.get(level, level) for level in topic.split("/")).replace("/", ".")


def check_nats_device_username(user: str) -> None:
    """check_device_username, and what NATS reads into a subject: '.' splits it, a '*' or '>' token
    is a wildcard (a device named '*' would publish and read as every device)."""
    check_device_username(user)
    nats_subject(user)
    if "*" in user or ">" in user:
        raise ValueError("a device's NATS username must not hold '*' or '>'")


def nats_permissions(publish: list[str], subscribe: list[str]) -> dict[str, Any]:
    return {"publish": {"allow": [nats_subject(t) for t in publish]},
            "subscribe": {"allow": [*(nats_subject(t) for t in subscribe), NATS_MQTT_DELIVERY]}}


def nats_service_permissions() -> dict[str, dict[str, Any]]:
    """User -> NATS permissions of the gateway and dispatch accounts (no admin: accounts are a file)."""
    gateway = nats_permissions(list(GATEWAY_WRITES), [f"{PREFIX}/dev/+/status", f"{PREFIX}/dev/+/hb"])
    stream = NATS_MQTT_STREAM
    # The JetStream API for its shared durable consumer on the MQTT message stream, and the acks.
    gateway["publish"]["allow"] += ["$JS.API.INFO", f"$JS.API.STREAM.INFO.{stream}",
                                    f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.*",
                                    f"$JS.API.CONSUMER.CREATE.{stream}.>", f"$JS.API.CONSUMER.INFO.{stream}.*",
                                    f"$JS.API.CONSUMER.MSG.NEXT.{stream}.*", f"$JS.ACK.{stream}.>"]
    gateway["subscribe"]["allow"] += ["_INBOX.>"]
    return {GATEWAY: gateway, DISPATCH: nats_permissions(list(DISPATCH_WRITES), list(DISPATCH_READS))}


def nats_connection_types(user: str) -> list[str]:
    """The `allowed_connection_types` of a NATS user (see NATS_MQTT_ONLY)."""
    return NATS_GATEWAY_CONNECTIONS if user == GATEWAY else NATS_MQTT_ONLY


def nats_device_permissions(device: str) -> dict[str, Any]:
    own = f"{PREFIX}/dev/{device}"
    return nats_permissions([f"{own}/{leaf}" for leaf in DEVICE_WRITES], [f"{own}/{leaf}" for leaf in DEVICE_READS])
