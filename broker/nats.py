"""The clustered broker option: a NATS cluster with an MQTT listener on every node.

`prepare_cluster()` lays out a state directory for N nodes (one config per
node, one users file they all include, JetStream storage per node);
`NatsCluster` starts, stops and kills them. Each node speaks MQTT 3.1.1 to
buttons, gateways and dispatch; sessions, QoS 1 messages and retained
messages live in JetStream streams replicated on `stream_replicas` nodes (3:
any one node can die without losing an acknowledged message or a session).

Accounts are NATS users with subject permissions derived from the same rules
as Mosquitto's roles (broker/policy.py). nats-server 2.9 has no management
API for users, so `NatsAccounts` keeps the device list in `devices.json`,
rewrites `users.conf` (bcrypt hashes only) and makes every running node
reload its configuration (SIGHUP, then waits until each node's /varz shows
the new load time). A reload disconnects a session whose user was removed or
whose password changed. Nodes on other hosts need the same file: see
docs/scaling.md ("Device accounts on NATS").
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt

from broker import policy
from broker.accounts import BrokerUnavailable
from broker.dynsec_config import _write_private
from broker.run import ACCOUNTS_FILE, free_port, service_passwords, stop_process

DEVICES_FILE = "devices.json"
USERS_FILE = "users.conf"
LOCK_FILE = ".accounts.lock"
# Broker passwords are 192-bit random tokens (broker/credentials.py): a slow hash adds nothing
# against guessing them, and every MQTT CONNECT pays it. The lowest cost keeps a fleet's
# reconnect storm after a node failure cheap (docs/scaling.md).
BCRYPT_ROUNDS = 4
REMOVED = "removed:"  # marks a locked-out device in devices.json
CLUSTER_NAME = "panic"

NODE_CONFIG = """# nats-server {node} of the panic-button cluster, rendered by broker/nats.py.
server_name: {node}
listen: {host}:{client_port}
http: {host}:{monitor_port}
pid_file: "{node_dir}/nats.pid"
max_payload: 65536

jetstream {{
  store_dir: "{node_dir}/jetstream"
}}

cluster {{
  name: {cluster}
  listen: {host}:{cluster_port}
  routes: [{routes}]
}}

# Buttons, gateways and dispatch speak MQTT 3.1.1 here. Sessions, QoS 1 messages and
# retained messages are JetStream streams replicated on stream_replicas nodes.
mqtt {{
  listen: {host}:{mqtt_port}
  stream_replicas: {replicas}
  # A QoS 1 message not acknowledged by a subscriber in this time is sent again.
  ack_wait: "30s"
  max_ack_pending: 100
}}

# Every user (service accounts and devices) with its subject permissions:
# rewritten by broker/nats.py and reloaded (SIGHUP) on every change.
authorization {{
  include "../{users_file}"
}}
"""


@dataclass(frozen=True)
class NatsNode:
    name: str
    dir: Path
    host: str
    client_port: int
    mqtt_port: int
    cluster_port: int
    monitor_port: int

    @property
    def config_file(self) -> Path:
        return self.dir / "nats.conf"

    @property
    def pid_file(self) -> Path:
        return self.dir / "nats.pid"

    @property
    def log_file(self) -> Path:
        return self.dir / "nats.log"

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.client_port}"

    def varz(self, timeout: float = 2.0) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://{self.host}:{self.monitor_port}/varz", timeout=timeout) as r:
            answer: dict[str, Any] = json.load(r)
            return answer


@dataclass(frozen=True)
class NatsClusterConfig:
    """A prepared cluster; `host`/`port` (the first node's MQTT listener) and the service
    passwords make it usable wherever a single broker's BrokerConfig is."""

    state_dir: Path
    nodes: tuple[NatsNode, ...]
    gateway_password: str
    dispatch_password: str
    admin_password: str
    kind: str = "nats"

    @property
    def host(self) -> str:
        return self.nodes[0].host

    @property
    def port(self) -> int:
        return self.nodes[0].mqtt_port

    @property
    def endpoints(self) -> list[tuple[str, int]]:
        """(host, MQTT port) of every node, in order: what a button's `brokers` list holds."""
        return [(n.host, n.mqtt_port) for n in self.nodes]

    @property
    def nats_urls(self) -> str:
        return ",".join(n.url for n in self.nodes)

    def accounts(self) -> NatsAccounts:
        return NatsAccounts(self.state_dir)


def find_nats_server() -> str:
    found = shutil.which("nats-server") or next(
        (p for p in ("/usr/sbin/nats-server", "/usr/local/bin/nats-server") if os.path.exists(p)), None)
    if not found:
        raise FileNotFoundError("nats-server is not installed: on Debian/Ubuntu run `sudo apt-get install nats-server`")
    return found


def prepare_cluster(state_dir: Path | str, size: int = 3, host: str = "127.0.0.1",
                    ports: list[tuple[int, int, int, int]] | None = None) -> NatsClusterConfig:
    """Create or refresh the cluster's state directory (nodes stopped or about to reload).

    `ports`: (client, mqtt, cluster, monitor) per node; free ports when omitted. Existing
    device accounts are kept; the service accounts come from accounts.json, as for Mosquitto.
    """
    state = Path(state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    chosen = ports or _distinct_ports(host, size)
    nodes = tuple(NatsNode(f"panic-{i + 1}", state / f"n{i + 1}", host, *p) for i, p in enumerate(chosen))
    for node in nodes:
        node.dir.mkdir(exist_ok=True)
        routes = ", ".join(f"nats-route://{host}:{o.cluster_port}" for o in nodes if o is not node)
        node.config_file.write_text(NODE_CONFIG.format(
            node=node.name, host=host, client_port=node.client_port, monitor_port=node.monitor_port,
            node_dir=node.dir, cluster=CLUSTER_NAME, cluster_port=node.cluster_port, routes=routes,
            mqtt_port=node.mqtt_port, replicas=min(3, len(nodes)), users_file=USERS_FILE))
    passwords = service_passwords(state / ACCOUNTS_FILE)
    accounts = NatsAccounts(state)
    with accounts.locked():
        accounts.render(accounts.devices())
    return NatsClusterConfig(state, nodes, passwords[policy.GATEWAY], passwords[policy.DISPATCH],
                             passwords[policy.ADMIN])


def _distinct_ports(host: str, size: int) -> list[tuple[int, int, int, int]]:
    ports: list[int] = []
    while len(ports) < 4 * size:
        port = free_port(host)
        if port not in ports:
            ports.append(port)
    return [(ports[i], ports[i + 1], ports[i + 2], ports[i + 3]) for i in range(0, len(ports), 4)]


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()


class NatsAccounts:
    """Device accounts of a NATS cluster whose nodes run from `state_dir` (see the module docstring).

    The same BrokerAccounts protocol as DynsecAccounts: `set` and `remove` are idempotent
    and return once every running node has reloaded. Several gateway processes on the host
    may call them at once (a file lock orders them).
    """

    def __init__(self, state_dir: Path | str, *, timeout: float = 10.0) -> None:
        self.state_dir = Path(state_dir)
        self.timeout = timeout

    def set(self, user: str, password: str) -> None:
        policy.check_nats_device_username(user)
        if not password:
            raise ValueError("a broker password must not be empty")
        with self.locked():
            devices = self.devices()
            devices[user] = _hash(password)
            self._apply(devices)

    def remove(self, user: str) -> None:
        """Lock `user` out: its live sessions are closed at the reload.

        The user stays in the file, with its permissions and a hash of a password nobody
        has: nats-server 2.9.10 crashes on a reload that drops a user who left a retained
        message (its status), nats-io/nats-server#7596, fixed in 2.11.12 and 2.12.3 (docs/scaling.md).
        """
        policy.check_device_username(user)
        with self.locked():
            devices = self.devices()
            if user in devices and not devices[user].startswith(REMOVED):
                devices[user] = REMOVED + _hash(secrets.token_urlsafe(32))
                self._apply(devices)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with open(self.state_dir / LOCK_FILE, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def devices(self) -> dict[str, str]:
        path = self.state_dir / DEVICES_FILE
        return dict(json.loads(path.read_text())) if path.exists() else {}

    def render(self, devices: dict[str, str]) -> None:
        """Write devices.json and users.conf (both 0600: hashes only, but hashes all the same)."""
        passwords = service_passwords(self.state_dir / ACCOUNTS_FILE)
        old = self._service_hashes()
        users = []
        for name, permissions in policy.nats_service_permissions().items():
            hashed = old.get(name, "")
            if not hashed or not bcrypt.checkpw(passwords[name].encode(), hashed.encode()):
                hashed = _hash(passwords[name])
            users.append({"user": name, "password": hashed, "permissions": permissions,
                          "allowed_connection_types": policy.nats_connection_types(name)})
        users += [{"user": device, "password": hashed.removeprefix(REMOVED),
                   "permissions": policy.nats_device_permissions(device),
                   "allowed_connection_types": policy.nats_connection_types(device)}
                  for device, hashed in sorted(devices.items())]
        _write_private(self.state_dir / DEVICES_FILE, json.dumps(devices, indent=1))
        _write_private(self.state_dir / USERS_FILE, "users: " + json.dumps(users, indent=1) + "\n")

    def _service_hashes(self) -> dict[str, str]:
        path = self.state_dir / USERS_FILE
        if not path.exists():
            return {}
        users = json.loads(path.read_text().partition(":")[2])
        return {u["user"]: u["password"] for u in users if u["user"] in policy.SERVICE_ACCOUNTS}

    def _apply(self, devices: dict[str, str]) -> None:
        self.render(devices)
        for node_dir in sorted(self.state_dir.glob("n*/")):
            reload_node(node_dir, self.timeout)


def reload_node(node_dir: Path, timeout: float) -> None:
    """SIGHUP the node running from `node_dir` (if any) and wait until it has reloaded."""
    try:
        pid = int((node_dir / "nats.pid").read_text())
        monitor = _monitor_port(node_dir / "nats.conf")
        before = _load_time(monitor)
        os.kill(pid, signal.SIGHUP)
    except (FileNotFoundError, ProcessLookupError, ValueError, OSError):
        return  # not running: it reads the file when it starts
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if _load_time(monitor) != before:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise BrokerUnavailable(f"nats-server in {node_dir.name} did not reload its users in {timeout} s")


def _monitor_port(config_file: Path) -> int:
    line = next(x for x in config_file.read_text().splitlines() if x.startswith("http:"))
    return int(line.rsplit(":", 1)[1])


def _load_time(monitor_port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{monitor_port}/varz", timeout=2) as r:
        return str(json.load(r)["config_load_time"])


class NatsCluster:
    """The nodes of a prepared cluster as child processes."""

    def __init__(self, config: NatsClusterConfig) -> None:
        self.config = config
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start_node(self, node: NatsNode) -> None:
        with open(node.log_file, "ab") as log:
            self.processes[node.name] = subprocess.Popen(
                [find_nats_server(), "-c", str(node.config_file)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    def start(self, timeout: float = 60.0) -> None:
        try:
            for node in self.config.nodes:
                if node.name not in self.processes:
                    self.start_node(node)
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until every running node's JetStream is healthy and its MQTT listener accepts."""
        deadline = time.monotonic() + timeout
        for node in self.config.nodes:
            if node.name not in self.processes:
                continue
            while not self._ready(node):
                process = self.processes[node.name]
                if process.poll() is not None:
                    raise RuntimeError(f"nats-server {node.name} exited with {process.returncode}; "
                                       f"see {node.log_file}:\n{node.log_file.read_text()[-2000:]}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nats-server {node.name} not ready in {timeout}s; see {node.log_file}")
                time.sleep(0.1)

    @staticmethod
    def _ready(node: NatsNode) -> bool:
        try:
            url = f"http://{node.host}:{node.monitor_port}/healthz"
            with urllib.request.urlopen(url, timeout=1) as r:
                if json.load(r).get("status") != "ok":
                    return False
            socket.create_connection((node.host, node.mqtt_port), timeout=0.5).close()
            return True
        except (OSError, ValueError):
            return False

    def kill(self, name: str) -> None:
        """SIGKILL one node: a machine lost, no goodbye to clients or peers."""
        process = self.processes.pop(name)
        process.kill()
        process.wait()

    def stop_node(self, name: str) -> None:
        stop_process(self.processes.pop(name))

    def stop(self) -> None:
        for name in list(self.processes):
            self.stop_node(name)

    def __enter__(self) -> NatsCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="panic-broker-nats",
                                     description="Prepare and run a NATS cluster for the panic-button system.")
    parser.add_argument("--dir", default="var/nats", help="state directory (default: var/nats)")
    parser.add_argument("--nodes", type=int, default=3, help="cluster size (default: 3)")
    parser.add_argument("--prepare-only", action="store_true", help="write the state directory and exit")
    args = parser.parse_args(argv)
    config = prepare_cluster(args.dir, args.nodes)
    for node in config.nodes:
        print(f"{node.name}: MQTT {node.host}:{node.mqtt_port}, NATS {node.url}, config {node.config_file}",
              file=sys.stderr)
    if args.prepare_only:
        return 0
    with NatsCluster(config) as cluster:
        print("cluster ready; Ctrl-C stops it", file=sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            while all(p.poll() is None for p in cluster.processes.values()):
                time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
