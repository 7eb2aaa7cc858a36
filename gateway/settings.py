"""Every setting of the gateway in one place (environment variables `PANIC_*`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gateway.dc09.config import ReceiverConfig, load_receivers

ROLES = ("technician", "operator", "admin")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PANIC_", env_file=None, extra="ignore")

    # Storage: SQLite by default (one file, nothing to install); PostgreSQL by URL,
    # e.g. postgresql+psycopg://user@host/db, for production and several instances.
    database_url: str = "sqlite:///var/gateway.db"

    # MQTT connection of the bridge.
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 18830
    mqtt_username: str = "gateway"
    mqtt_password: SecretStr = SecretStr("")
    # A stable client id keeps the broker-side persistent session (queued
    # alerts) across gateway restarts; each instance needs its own.
    mqtt_client_id: str = "panic-gateway-1"
    # Set to share the device topics between several gateway instances
    # ($share/<group>/panic/v1/dev/+/alert); empty for a single instance.
    mqtt_shared_group: str = ""
    max_payload_bytes: int = 2048
    # More MQTT endpoints of the same broker (a NATS cluster's nodes), "host:port,host:port":
    # after a failed connect or a lost connection the bridge tries the next one.
    mqtt_more_endpoints: str = ""

    # Which broker: "mosquitto" (one process, the default) or "nats" (a cluster, docs/scaling.md).
    # The one setting that tells them apart; only the MQTT adapter (gateway/bridge.py,
    # gateway/nats_inbound.py) and where device accounts live depend on it.
    broker_kind: Literal["mosquitto", "nats"] = "mosquitto"
    # NATS: client URLs of the cluster's nodes (nats://host:port,...), for the JetStream
    # consumers that gateways share; how long a fetched message may stay unacknowledged
    # before it goes to another instance; the cluster's state directory (broker/nats.py)
    # where device accounts are written (empty: registered devices get no broker account).
    nats_urls: str = ""
    nats_ack_wait_s: float = Field(default=30.0, gt=0)
    nats_accounts_dir: str = ""

    # Registry API.
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    # token -> role (technician, operator, admin), e.g. PANIC_API_TOKENS='{"s3cret":"admin"}'.
    api_tokens: dict[str, str] = Field(default_factory=dict)

    @field_validator("api_tokens")
    @classmethod
    def _known_roles(cls, tokens: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(tokens.values()) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown roles {unknown}; roles are {', '.join(ROLES)}")
        return tokens

    # Failed API tokens: after this many from one client address within the
    # window, that address is answered 429 until the window ends.
    api_token_failures: int = Field(default=10, ge=1)
    api_token_failure_window_s: float = Field(default=60.0, gt=0)

    # Device credentials: after POST /devices/{id}/rotate the old device key
    # keeps verifying this long, so what the button signed before it was
    # re-provisioned (its outbox) is not lost.
    key_grace_s: float = Field(default=86400.0, ge=0)

    # Broker credential issuing: the broker's admin account, with which the
    # gateway creates, rotates and removes device accounts over MQTT (Mosquitto
    # dynamic security on $CONTROL, the broker at mqtt_host:mqtt_port). Empty
    # password: registered devices get no broker account.
    broker_admin_username: str = "admin"
    broker_admin_password: SecretStr = SecretStr("")

    # Supervision: a device not heard from for this long is declared offline
    # (3 missed heartbeats at the firmware's default 30 s); checked this often.
    offline_after_s: float = 90.0
    supervision_interval_s: float = 5.0

    # Dispatch enrichment: how far back `history` looks.
    history_days: int = 30
    # Rejection events to dispatch: at most one per device and reason per window.
    rejection_event_interval_s: float = 60.0

    # The outbox (gateway/publisher.py): how often due rows are looked for
    # (failed publications, receipts overdue, rows of a crashed instance), and
    # how long a claim on a row holds before another instance may take it.
    outbox_poll_s: float = Field(default=1.0, gt=0)
    outbox_lease_s: float = Field(default=30.0, gt=0)

    # Dispatch receipts (docs/protocol.md, "Receipts and redelivery"): a dispatch
    # alert not receipted is re-published after this long, doubling up to the
    # maximum; 0 turns receipts off (the broker's PUBACK is taken as delivery).
    dispatch_receipt_retry_s: float = Field(default=10.0, ge=0)
    dispatch_receipt_retry_max_s: float = Field(default=300.0, gt=0)
    # No receipt this long after commit: a dispatch_unreceipted event, a metric, a warning.
    dispatch_unreceipted_after_s: float = Field(default=60.0, gt=0)

    # Station routing (docs/stations.md, docs/operations.md "Stations"): how many next-nearest
    # stations each dispatch alert names as candidates (the contract allows up to 3); how often
    # the stored stations are checked for changes made on another instance; a device fix older
    # than this is not routed on when the premises are surveyed (they stand in, as for no fix).
    dispatch_candidates: int = Field(default=3, ge=0, le=3)
    stations_check_s: float = Field(default=5.0, gt=0)
    location_fix_max_age_s: int = Field(default=600, ge=0)

    # Operator console (gateway/console/, docs/operations.md "Operator console"): the map's tile URL
    # template (e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png or a tile server in the operations
    # room; empty: no tiles, positions on a plain coordinate grid) and its attribution; how long a
    # login lasts; how often the consoles' live feed looks at the database for changes (one query per
    # instance while any console is open).
    console_tile_url: str = ""
    console_tile_attribution: str = ""
    console_session_s: int = Field(default=12 * 3600, ge=60)
    console_poll_s: float = Field(default=1.0, gt=0)

    # Alarm-receiving centres (docs/dc09.md): a JSON list of receivers, each sent
    # every alert as SIA DC-09 / Contact ID. Empty: no forwarding.
    dc09_receivers: Annotated[list[ReceiverConfig], NoDecode] = Field(default_factory=list)

    @field_validator("dc09_receivers", mode="before")
    @classmethod
    def _parse_receivers(cls, value: Any) -> Any:
        # The forwarder's own parser: its errors name the receiver and field, never the key.
        return load_receivers(value) if isinstance(value, str) else value

    # Escalation (docs/operations.md, "Escalation settings"): an emergency alert nobody acknowledged
    # within this many seconds is re-published to the next candidate and the parent station, and
    # again after as long at each level up to the top; 0 turns escalation off. Checked this often.
    escalate_after_s: float = Field(default=60.0, ge=0)
    escalate_max_level: int = Field(default=3, ge=1, le=20)
    escalate_check_s: float = Field(default=1.0, gt=0)

    # Notifications (docs/operations.md, "Notifications"): webhook URLs (a JSON list) POSTed every
    # notification event; a failed message is retried after notify_retry_s, doubling up to the
    # maximum, at most notify_max_attempts times. Stations are texted in notify_station_lang.
    notify_webhooks: list[str] = Field(default_factory=list)
    notify_retry_s: float = Field(default=5.0, gt=0)
    notify_retry_max_s: float = Field(default=600.0, gt=0)
    notify_max_attempts: int = Field(default=10, ge=1)
    notify_timeout_s: float = Field(default=10.0, gt=0)
    notify_station_lang: Literal["id", "en"] = "id"

    @field_validator("notify_webhooks")
    @classmethod
    def _webhook_urls(cls, urls: list[str]) -> list[str]:
        bad = [u for u in urls if not u.startswith(("http://", "https://"))]
        if bad:
            raise ValueError(f"webhook URLs must start with http:// or https:// ({len(bad)} do not)")
        return urls
    # SMS alerts (docs/sms.md): the gateway's own GSM modem on a serial port, e.g. /dev/ttyUSB0;
    # empty: no SMS ingress. The whole SIM is read again this often (and after every modem reboot),
    # besides each +CMTI the modem announces.
    sms_port: str = ""
    sms_baud: int = Field(default=115200, gt=0)
    sms_poll_s: float = Field(default=30.0, gt=0)

    log_level: str = "INFO"
