"""simulator.stack.GatewayProcess, the harness every gateway test starts its gateways with."""

from __future__ import annotations

import socket
from pathlib import Path

from simulator.stack import GatewayProcess, Stack


def test_a_port_taken_before_the_gateway_starts_does_not_stop_it(tmp_path: Path) -> None:
    """A second gateway is made before the stack starts, and the stack's own connections (database,
    broker, clients) take ephemeral ports meanwhile: the API port must be chosen when the gateway
    starts. Before, it was chosen when the object was made; a run under load lost it to one of them."""
    stack = Stack(tmp_path)
    second = GatewayProcess(stack.broker_config, tmp_path / "gateway-2",
                            extra_env={"PANIC_MQTT_CLIENT_ID": "panic-gateway-2"})
    with socket.create_server(("127.0.0.1", second.api_port or 0)), stack:  # whatever it named so far: taken
        second.start()
        try:
            assert second.request("GET", "/health")["status"] == "ok"
        finally:
            second.stop()
