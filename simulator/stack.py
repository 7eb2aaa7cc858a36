"""The whole system on one machine: broker, gateway and a dispatch listener.

Used by the demo (`panic-demo`) and by the end-to-end tests, so both start
the parts exactly as an operator would (docs/operations.md): Mosquitto with
the project's configuration, `panic-gateway` as a separate process on
SQLite, registration through the HTTP API, dispatch as an MQTT subscriber.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from broker.nats import NatsCluster, NatsClusterConfig, prepare_cluster
from broker.run import BrokerConfig, Mosquitto, free_port, prepare, stop_process

BROKER_KINDS = ("mosquitto", "nats")
AnyBroker = BrokerConfig | NatsClusterConfig


def broker_env(broker: AnyBroker) -> dict[str, str]:
    """The gateway's PANIC_* settings that say which broker it is on and how to reach it."""
    env = dict(PANIC_MQTT_HOST=broker.host, PANIC_MQTT_PORT=str(broker.port),
               PANIC_MQTT_PASSWORD=broker.gateway_password)
    if isinstance(broker, NatsClusterConfig):
        env.update(PANIC_BROKER_KIND="nats", PANIC_NATS_URLS=broker.nats_urls,
                   PANIC_NATS_ACCOUNTS_DIR=str(broker.state_dir),
                   PANIC_MQTT_MORE_ENDPOINTS=",".join(f"{h}:{p}" for h, p in broker.endpoints[1:]))
    else:
        env.update(PANIC_BROKER_KIND="mosquitto", PANIC_BROKER_ADMIN_PASSWORD=broker.admin_password)
    return env


class PortTaken(RuntimeError):
    """The gateway's API port was taken by another process before the gateway bound it."""


class GatewayProcess:
    """`panic-gateway` in a child process, configured through PANIC_* variables."""

    def __init__(self, broker: AnyBroker, state_dir: Path, *, database_url: str | None = None,
                 api_port: int | None = None, extra_env: dict[str, str] | None = None) -> None:
        self.state_dir = state_dir
        # None: a free port, chosen when it first starts. Not now: a gateway is often made before the
        # stack it joins starts, whose connections take ephemeral ports meanwhile (one took it once).
        self.api_port = api_port
        self._port_chosen_here = api_port is None  # then another is chosen if someone binds it first
        self.token = secrets.token_urlsafe(16)
        self.log_file = state_dir / "gateway.log"
        self.env = dict(
            os.environ,
            PANIC_DATABASE_URL=database_url or f"sqlite:///{state_dir / 'gateway.db'}",
            **broker_env(broker),
            PANIC_API_TOKENS=json.dumps({self.token: "admin"}),
            **(extra_env or {}),
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.api_port is None:
            raise RuntimeError("the gateway has not started yet: its API port is chosen then")
        return f"http://127.0.0.1:{self.api_port}"

    def start(self, timeout: float = 60.0, module: str = "gateway.main") -> None:
        """Start `python -m module` (tests pass a wrapper around gateway.main to inject faults).

        A port picked by free_port() is free when picked, not when the API binds it: on a busy machine an
        outgoing connection can take it in between. Then, and only for a port picked here, the gateway is
        started again on another one (a restart keeps its port unless it was taken meanwhile: read `url` after).
        """
        for _attempt in range(3):
            try:
                return self._start(timeout, module)
            except PortTaken:
                if not self._port_chosen_here:
                    raise
                self.api_port = None
        return self._start(timeout, module)

    def _start(self, timeout: float, module: str) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.api_port is None:
            self.api_port = free_port()
        self.env["PANIC_API_PORT"] = str(self.api_port)
        start = self.log_file.stat().st_size if self.log_file.exists() else 0
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", module], env=self.env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raw = self.log_file.read_bytes()
                text = raw.decode(errors="replace")
                if b"address already in use" in raw[start:]:  # uvicorn's error line (logged at every level)
                    raise PortTaken(f"127.0.0.1:{self.api_port} was taken before the gateway bound it")
                raise RuntimeError(f"gateway exited with {self.process.returncode}; see {self.log_file}:\n"
                                   + text[-2000:])
            try:
                if self.request("GET", "/health")["status"] == "ok":
                    return
            except (OSError, RuntimeError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"gateway not healthy in {timeout}s; see {self.log_file}")

    def stop(self) -> None:
        if self.process:
            stop_process(self.process, timeout=15)
        self.process = None

    def log(self) -> str:
        return self.log_file.read_text() if self.log_file.exists() else ""

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """Call the API; raises RuntimeError with status and detail on an error status."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {token or self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                text = response.read().decode()
                return json.loads(text) if response.headers.get_content_type() == "application/json" else text
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path} -> {exc.code}: {exc.read().decode()}") from None


class MqttListener:
    """An MQTT client that collects what arrives on some topics (dispatch, a device's view)."""

    def __init__(self, broker: AnyBroker, username: str, password: str, topics: list[str],
                 receipt_as: str | None = None, endpoint: tuple[str, int] | None = None) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"listener-{secrets.token_hex(4)}")
        self.client.username_pw_set(username, password)
        self._subscribed = queue.Queue[bool]()

        def on_connect(client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if reason.is_failure:  # e.g. a NATS node whose JetStream is still electing leaders
                return  # paho reconnects by itself (after reconnect_delay_set's delay)
            if topics:
                client.subscribe([(t, 1) for t in topics])
            else:
                self._subscribed.put(True)

        def on_subscribe(client: mqtt.Client, _u: Any, _mid: int, reasons: list[Any], _p: Any) -> None:
            if any(r.is_failure for r in reasons):
                # Refused for now (a NATS cluster electing new JetStream leaders after losing a node
                # cannot create the subscription's consumer for a few seconds): ask again, as a
                # button does (it reconnects).
                threading.Timer(0.5, lambda: client.subscribe([(t, 1) for t in topics])).start()
                return
            self._subscribed.put(True)

        def on_message(client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
            self.messages.put((message.topic, bytes(message.payload)))
            if receipt_as and message.topic.endswith("/alerts"):
                record = json.loads(message.payload)
                receipt = {"alert_id": record["alert_id"], "rev": record["rev"], "by": receipt_as}
                client.publish("panic/v1/dispatch/receipt", json.dumps(receipt), qos=1)

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        # paho's default back-off doubles up to 120 s: after a few refusals (a cluster that lost a
        # node refuses CONNECT until JetStream has new leaders) the next try would come too late.
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.connect(*(endpoint or (broker.host, broker.port)))
        self.client.loop_start()
        # A NATS node that lost its metadata leader refuses QoS 1 subscriptions until a new one is
        # elected (10-15 s on an idle 2-core machine, each refusal holding the SUBSCRIBE 4 s): wait
        # long enough for a loaded one. Only a failing test waits it out.
        self._subscribed.get(timeout=120)

    def publish(self, topic: str, payload: bytes, qos: int = 1, timeout: float = 10.0) -> bool:
        """Publish; whether the broker acknowledged it (QoS 1: its PUBACK) within `timeout`. paho keeps
        an unacknowledged QoS 1 message and sends it again after a reconnect."""
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(timeout=timeout)
        return info.is_published()

    def next(self, timeout: float = 10.0, topic_suffix: str = "") -> tuple[str, bytes]:
        """The next message (on a topic ending with `topic_suffix`); queue.Empty on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            topic, payload = self.messages.get(timeout=max(0.0, deadline - time.monotonic()))
            if topic.endswith(topic_suffix):
                return topic, payload

    def drain(self, wait: float = 0.5) -> list[tuple[str, bytes]]:
        """Everything that arrives within `wait` seconds."""
        out = []
        deadline = time.monotonic() + wait
        while True:
            try:
                out.append(self.messages.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class BaseStack:
    """Broker + gateway in one state directory (the broker being made by a subclass)."""

    broker_config: AnyBroker
    broker: Mosquitto | NatsCluster

    def __init__(self, state_dir: Path, *, database_url: str | None = None,
                 gateway_env: dict[str, str] | None = None) -> None:
        self.state_dir = state_dir
        self.gateway = GatewayProcess(self.broker_config, state_dir / "gateway", database_url=database_url,
                                      extra_env=gateway_env)

    def start(self) -> None:
        self.broker.start()
        self.gateway.start()

    def stop(self) -> None:
        self.gateway.stop()
        self.broker.stop()

    def dispatch(self, receipts: bool = True, endpoint: tuple[str, int] | None = None) -> MqttListener:
        """A dispatch consumer that confirms every alert revision it gets, as a real one should
        (docs/protocol.md, "Receipts and redelivery"); `receipts=False` plays one that does not."""
        listener = MqttListener(self.broker_config, "dispatch", self.broker_config.dispatch_password,
                                ["panic/v1/dispatch/alerts", "panic/v1/dispatch/events"],
                                receipt_as="stack-dispatch" if receipts else None, endpoint=endpoint)
        return listener

    def register_button(self, device_id: str, *, owner: dict[str, Any] | None = None,
                        sim_number: str | None = None) -> dict[str, Any]:
        """Register a demo owner with one premises and the device; returns the issued credentials."""
        created = self.gateway.request("POST", "/owners", owner or DEMO_OWNER)
        issued: dict[str, Any] = self.gateway.request("POST", "/devices", {
            "device_id": device_id, "owner_id": created["id"], "premises_id": created["premises"][0]["id"],
            **({"sim_number": sim_number} if sim_number else {}),
        })
        return issued

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Stack(BaseStack):
    """One Mosquitto (the default broker) and a gateway."""

    broker_config: BrokerConfig
    broker: Mosquitto

    def __init__(self, state_dir: Path, *, broker_port: int | None = None, database_url: str | None = None,
                 gateway_env: dict[str, str] | None = None, tls: bool = False) -> None:
        # tls: the broker's TLS listener too, on a free port, with its development CA (broker/tls.py).
        # The gateway and dispatch stay on the plain listener: same host (docs/operations.md, TLS).
        self.broker_config = prepare(state_dir / "broker", broker_port or free_port(),
                                     tls_port=free_port() if tls else None)
        self.broker = Mosquitto(self.broker_config)
        super().__init__(state_dir, database_url=database_url, gateway_env=gateway_env)


class NatsStack(BaseStack):
    """A 3-node NATS cluster (broker/nats.py) and a gateway sharing the topics through JetStream."""

    broker_config: NatsClusterConfig
    broker: NatsCluster

    def __init__(self, state_dir: Path, *, database_url: str | None = None,
                 gateway_env: dict[str, str] | None = None, nodes: int = 3) -> None:
        self.broker_config = prepare_cluster(state_dir / "nats", nodes)
        self.broker = NatsCluster(self.broker_config)
        super().__init__(state_dir, database_url=database_url, gateway_env=gateway_env)


def make_stack(kind: str, state_dir: Path, **options: Any) -> BaseStack:
    """A Stack on the broker `kind` ("mosquitto" or "nats")."""
    if kind not in BROKER_KINDS:
        raise ValueError(f"unknown broker kind {kind!r}; one of {', '.join(BROKER_KINDS)}")
    return NatsStack(state_dir, **options) if kind == "nats" else Stack(state_dir, **options)


DEMO_OWNER: dict[str, Any] = {
    "name": "Toko Emas Sinar Jaya",
    "phone": "+62 721 555 0101",
    "emergency_contacts": [{"name": "Budi Santoso", "phone": "+62 812 7000 1234"}],
    "premises": [{
        "kind": "shop",
        "address": "Jl. Raden Intan No. 12, Tanjung Karang, Bandar Lampung",
        "lat": "-5.4291234",
        "lon": "105.2612345",
    }],
}
