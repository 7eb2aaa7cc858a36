"""Tables of the registry, of alerts and of the outbox.

Coordinates are stored as integer 1e-7 degrees (`*_e7`) so they stay exact
on every database and are never rounded through a float column.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite numbers rows itself only in an INTEGER PRIMARY KEY; PostgreSQL gets 64 bits.
RowId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Owner(Base):
    __tablename__ = "owners"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(40))
    emergency_contacts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Premises(Base):
    __tablename__ = "premises"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("owners.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(Text)
    lat_e7: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    lon_e7: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(15), primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("owners.id"), index=True)
    premises_id: Mapped[str] = mapped_column(ForeignKey("premises.id"))
    # The current 32-byte HMAC key, hex. Needed in clear to verify signatures;
    # never returned by the API after it is issued (a fingerprint is).
    key_hex: Mapped[str] = mapped_column(String(64))
    # The key before the last rotation, still verifying until `previous_key_until`
    # so messages the button signed before it was re-provisioned are not lost.
    previous_key_hex: Mapped[str | None] = mapped_column(String(64), nullable=True)
    previous_key_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(12), default="active")  # active | revoked
    firmware: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # Anti-replay window (gateway/replay.py): high-water seq and the 64-bit
    # bitmap, stored as a signed 64-bit integer. Updated by compare-and-set.
    replay_high: Mapped[int] = mapped_column(BigInteger, default=0)
    replay_bitmap: Mapped[int] = mapped_column(BigInteger, default=0)
    # Supervision: when the device was last heard (an accepted message or its
    # birth), whether it is online (None: never known) and since when.
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    online: Mapped[bool | None] = mapped_column(nullable=True)
    online_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeviceSim(Base):
    """The phone number of a button's SIM (E.164, "+62812..."), when registered (docs/sms.md).

    Optional, so a table of its own rather than a column of `devices`: an SMS
    alert from another number is still judged by its MAC, and the mismatch is
    reported.
    """

    __tablename__ = "device_sims"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    sim_number: Mapped[str] = mapped_column(String(20), index=True)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("device_id", "seq"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "{dev}:{seq}"
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))
    # Revision of the dispatch record; +1 on every state change.
    # published_rev: the newest revision the broker confirmed on the dispatch
    # topic, a read-back for the API. What is still to publish lives in the
    # outbox, never here.
    rev: Mapped[int] = mapped_column(Integer, default=1)
    published_rev: Mapped[int] = mapped_column(Integer, default=0, index=True)
    # The exact bytes received, to tell a retransmission from a replay.
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    false_alarm: Mapped[bool] = mapped_column(default=False)
    acted_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Escalation (gateway/escalation.py): the level reached (0: none), the latest escalation
    # ({level, reason, stations, at}) and when the next one is due. The timer is this column:
    # null once acknowledged, at the top, or for an alert that does not escalate (a test).
    # (Server defaults, and left out of an insert when unset: code that predates them keeps working.)
    escalation_level: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    escalation: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    escalate_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)


class AlertTransition(Base):
    """One step of an alert's life (docs/operations.md, "Lifecycle"): who, when, to which state, which rev.

    The alert's first state (`new`, rev 1) is its row in `alerts`; escalations are rows here too
    (state stays `new`, `escalation` says the level).
    """

    __tablename__ = "alert_transitions"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(20))
    by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    rev: Mapped[int] = mapped_column(Integer)
    escalation: Mapped[int | None] = mapped_column(Integer, nullable=True)


class NotifyEvent(Base):
    """Something about an alert that people are to be told (gateway/notify/), staged with its cause.

    The notifier expands it into one `notifications` row per recipient and deletes it.
    `due_at` is the lease, as in the outbox.
    """

    __tablename__ = "notify_events"
    __table_args__ = (UniqueConstraint("alert_id", "event"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"))
    event: Mapped[str] = mapped_column(String(30))  # new, escalation-1, resolved, false_alarm, cancelled
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Notification(Base):
    """One message to one recipient about one alert event: the per-alert log of what was sent.

    Unique per alert, event, channel and recipient: expanded twice (after a crash), it is still
    one row, so one message. Retries are data: `due_at` moves with the back-off.
    """

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("alert_id", "event", "channel", "recipient"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"), index=True)
    event: Mapped[str] = mapped_column(String(30))
    channel: Mapped[str] = mapped_column(String(10))  # sms, webhook
    recipient: Mapped[str] = mapped_column(String(300))  # a phone number or a webhook URL
    role: Mapped[str] = mapped_column(String(20))  # contact, station, webhook
    lang: Mapped[str] = mapped_column(String(5))  # id, en
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10))  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class OutboxEntry(Base):
    """One publication committed with what caused it, until the broker (or dispatch) confirms it.

    `due_at` is both the lease and the back-off: a row may be taken by any
    instance once it is due; taking it moves `due_at` a lease ahead and
    counts an attempt. A dispatch alert stays (state `sent`) after the
    broker's PUBACK until dispatch sends a receipt for it.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))  # dispatch_alert, device_ack, event
    topic: Mapped[str] = mapped_column(String(200))
    qos: Mapped[int] = mapped_column(Integer)
    # device_ack: the unsigned ack body (signed when published); event: the record
    # without owner/premises (filled in when published); dispatch_alert: none,
    # the alert row is rendered when published.
    body: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    alert_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    rev: Mapped[int | None] = mapped_column(Integer, nullable=True)
    device_id: Mapped[str | None] = mapped_column(String(15), nullable=True)
    state: Mapped[str] = mapped_column(String(10))  # pending, sent (awaiting a receipt)
    attempts: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    unreceipted_reported: Mapped[bool] = mapped_column(Boolean, default=False)


class StationRow(Base):
    """A police station or post (gateway/stations/model.py `Station`; docs/stations.md)."""

    __tablename__ = "stations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # also an MQTT topic level
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # post, security, polsek, polres, polda
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("stations.id"), nullable=True, index=True)
    lat_e7: Mapped[int] = mapped_column(BigInteger)
    lon_e7: Mapped[int] = mapped_column(BigInteger)
    phones: Mapped[list[str]] = mapped_column(JSON, default=list)
    coverage: Mapped[str | None] = mapped_column(Text, nullable=True)  # GeoJSON Polygon/MultiPolygon text
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Dc09Receiver(Base):
    """An alarm-receiving centre the gateway forwards to (gateway/dc09/; docs/dc09.md).

    Rows follow `PANIC_DC09_RECEIVERS` at start (`active`); staging fans a
    report out to the active ones. The row also carries the receiver's
    sequence counter and the lease that lets one instance at a time send to
    it, which keeps its messages in order.
    """

    __tablename__ = "dc09_receivers"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean)
    next_sequence: Mapped[int] = mapped_column(Integer)  # 1 to 9999, then 1 again
    holder: Mapped[str | None] = mapped_column(String(100), nullable=True)  # the instance sending to it
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Dc09Message(Base):
    """One Contact ID report to one receiver, staged with its cause, until the receiver ACKs it.

    The account is worked out when sending (from the receiver's account
    scheme); `sequence` is given on the first transmission and kept for all
    retransmissions. A message the receiver cannot take is `parked`.
    """

    __tablename__ = "dc09_messages"
    # A receiver's head of line: its oldest pending message.
    __table_args__ = (UniqueConstraint("receiver", "source_key"),
                      Index("ix_dc09_messages_head", "receiver", "state", "id"))

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    receiver: Mapped[str] = mapped_column(ForeignKey("dc09_receivers.name"))
    source_key: Mapped[str] = mapped_column(String(80))  # the report's identity, e.g. "alert:pb-…:18"
    device_id: Mapped[str] = mapped_column(String(15))
    contact_id: Mapped[str] = mapped_column(String(16))  # "1120 01 001"
    extended: Mapped[list[str]] = mapped_column(JSON)  # extended-data blocks, e.g. ["X105.2612345", "Y-5.4291234"]
    state: Mapped[str] = mapped_column(String(10))  # pending, parked
    sequence: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SmsInbox(Base):
    """An SMS as the gateway's modem delivered it, stored before it is judged (gateway/sms/ingress.py).

    Written (and committed) before anything else is done with the message, so
    a gateway that dies while judging finds it again; deleted from the SIM only
    once `state` is `done`. `digest` (SHA-256 of the PDU, which carries the
    service centre's time stamp) makes reading the same SIM slot twice one row.
    """

    __tablename__ = "sms_inbox"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    pdu: Mapped[str] = mapped_column(Text)  # hex, as AT+CMGR gave it
    state: Mapped[str] = mapped_column(String(10), index=True)  # pending, done
    sender: Mapped[str | None] = mapped_column(String(40), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(40), nullable=True)  # verdict, or the rejection reason
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SmsRoute(Base):
    """Where an alert that came by SMS is answered by SMS: the number its latest SMS copy came from.

    Staged with the alert's judging (gateway/sms/ingress.py); its presence is what makes the
    states police set later go to the button by SMS too (gateway/sms/acks.py, docs/sms.md).
    """

    __tablename__ = "sms_routes"

    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"), primary_key=True)
    sender: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SmsAck(Base):
    """An alert's state told to its button by SMS (gateway/sms/acks.py): one row per alert and state.

    Staged in the transaction that moves the alert; kept once sent, so the same state is never
    texted twice, not after a retried acknowledgement nor after a restart. `due_at` is the lease.
    """

    __tablename__ = "sms_acks"
    __table_args__ = (UniqueConstraint("alert_id", "state"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"))
    device_id: Mapped[str] = mapped_column(String(15))
    ref: Mapped[int] = mapped_column(BigInteger)  # the alert's seq, as the button knows it
    state: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10))  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Command(Base):
    """A remote command to a device (gateway/commands.py; protocol/README.md, "Commands").

    `cseq` is the device's command counter, given here (one above the device's
    highest so far) in the transaction that stages the command's outbox row.
    `status`: pending (committed, not yet accepted by the broker), sent (the
    broker has it), ok or rejected (the device's signed result, in `result`).
    A pending or sent command past `expires_at` reads as expired.
    """

    __tablename__ = "commands"
    __table_args__ = (UniqueConstraint("device_id", "cseq"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    cseq: Mapped[int] = mapped_column(BigInteger)
    cmd: Mapped[str] = mapped_column(String(20))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10))  # pending, sent, ok, rejected
    reason: Mapped[str | None] = mapped_column(String(20), nullable=True)  # the device's, when rejected
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # the device's result body
    requested_by: Mapped[str] = mapped_column(String(100))  # the API caller's role
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
