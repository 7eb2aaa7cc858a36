"""Device broker accounts, issued and removed through Mosquitto's dynamic security.

`DynsecAccounts` talks to the plugin's control topic over MQTT with the
broker's `admin` account, so any number of gateways on any hosts can issue,
rotate and revoke accounts on one broker: the broker is the only owner of
the account list, nothing is written on the gateway's disk and no signal is
sent to a process. Each call opens its own short connection, which keeps the
object thread-safe and free of a reconnect loop; registration is rare.

Both operations are idempotent, so a caller that saw an error (the broker
answered with one, or no answer came in time) can simply call again:
- `set(user, password)` creates the device's role (its own topics, see
  broker/policy.py) and its client; if the client exists it gets the new
  password and its role back. Changing the password disconnects a live
  session of that user (the plugin kicks it).
- `remove(user)` deletes the client (the plugin disconnects its live
  session) and its role; removing what is not there succeeds.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from broker import policy

ALREADY_DONE = {
    "createRole": "Role already exists",
    "createClient": "Client already exists",
    "deleteClient": "Client not found",
    "deleteRole": "Role not found",
}


class BrokerUnavailable(OSError):
    """The broker could not be reached, did not answer in time, or refused a command."""


class BrokerAccounts(Protocol):
    """What the registry needs from wherever broker accounts live."""

    def set(self, user: str, password: str) -> None: ...

    def remove(self, user: str) -> None: ...


class DynsecAccounts:
    def __init__(self, host: str, port: int, admin_username: str, admin_password: str,
                 *, timeout: float = 10.0) -> None:
        self.host, self.port = host, port
        self._admin = (admin_username, admin_password)
        self.timeout = timeout

    def set(self, user: str, password: str) -> None:
        """Create `user` with its device role, or give the existing one `password`."""
        policy.check_device_username(user)
        if not password:
            raise ValueError("a broker password must not be empty")
        role = policy.device_role_name(user)
        roles = [{"rolename": role, "priority": 0}]
        created = self._run([
            {"command": "createRole", "rolename": role, "acls": policy.device_acls(user)},
            {"command": "createClient", "username": user, "password": password, "roles": roles},
        ])
        if created[-1].get("error") == ALREADY_DONE["createClient"]:
            self._run([{"command": "modifyClient", "username": user, "password": password, "roles": roles}])

    def remove(self, user: str) -> None:
        """Delete `user` and its role; its live session, if any, is disconnected."""
        policy.check_device_username(user)
        self._run([
            {"command": "deleteClient", "username": user},
            {"command": "deleteRole", "rolename": policy.device_role_name(user)},
        ])

    def _run(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send `commands` in one control message; their responses, in order.

        Raises BrokerUnavailable on no connection, no answer within the
        timeout, or an error other than "already there"/"already gone".
        """
        batch = secrets.token_hex(8)
        for index, command in enumerate(commands):
            command["correlationData"] = f"{batch}/{index}"
        answers = _ControlExchange(commands).run(self.host, self.port, self._admin, self.timeout)
        responses = [answers[c["correlationData"]] for c in commands]
        for response in responses:
            error = response.get("error")
            if error and error != ALREADY_DONE.get(response.get("command", "")):
                raise BrokerUnavailable(f"broker refused {response.get('command')}: {error}")
        return responses


class _ControlExchange:
    """One connection that publishes a control message and collects its responses."""

    def __init__(self, commands: list[dict[str, Any]]) -> None:
        self.payload = json.dumps({"commands": commands})
        self.waiting = {c["correlationData"] for c in commands}
        self.answers: dict[str, dict[str, Any]] = {}
        self.failure: str | None = None

    def run(self, host: str, port: int, admin: tuple[str, str], timeout: float) -> dict[str, dict[str, Any]]:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"panic-accounts-{secrets.token_hex(6)}")
        client.username_pw_set(*admin)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.connect_timeout = timeout
        deadline = time.monotonic() + timeout
        try:
            client.connect(host, port, keepalive=max(5, int(timeout) * 2))
            while self.waiting and self.failure is None and time.monotonic() < deadline:
                if client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS and self.failure is None:
                    self.failure = "the connection to the broker was lost"
        except OSError as exc:
            raise BrokerUnavailable(f"broker {host}:{port} unreachable: {exc}") from None
        finally:
            client.disconnect()
        if self.failure is not None:
            raise BrokerUnavailable(self.failure)
        if self.waiting:
            raise BrokerUnavailable(f"no answer from the broker's dynamic security in {timeout} s")
        return self.answers

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.failure = f"broker refused the admin account: {reason}"
        else:
            client.subscribe(policy.CONTROL_RESPONSE_TOPIC, qos=1)

    def _on_subscribe(self, client: mqtt.Client, _u: Any, _mid: int, reasons: list[Any], _p: Any) -> None:
        if any(r.is_failure for r in reasons):
            self.failure = "the admin account may not read the dynamic-security responses"
        else:
            client.publish(policy.CONTROL_TOPIC, self.payload, qos=1)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        # Every admin connection sees every response: keep only ours.
        try:
            responses = json.loads(message.payload)["responses"]
        except (ValueError, KeyError, TypeError):
            return
        for response in responses if isinstance(responses, list) else []:
            key = response.get("correlationData") if isinstance(response, dict) else None
            if isinstance(key, str) and key in self.waiting:
                self.waiting.discard(key)
                self.answers[key] = response
