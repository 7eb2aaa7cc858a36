"""Device accounts issued, rotated and revoked through the real broker's dynamic security."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from broker import policy
from broker.accounts import BrokerUnavailable, DynsecAccounts
from broker.run import free_port
from tests.broker.peers import ACCEPTED, REFUSED, Peer, connack, received
from tests.conftest import BrokerUnderTest

DEV = "pb-cccccccccccc"


def test_an_issued_account_works_at_once_and_only_on_its_own_topics(broker: BrokerUnderTest) -> None:
    assert connack(broker, DEV, "pw") == REFUSED
    broker.config.accounts().set(DEV, "pw")
    gateway = Peer(broker, "gateway", broker.config.gateway_password)
    gateway.subscribe("panic/v1/dev/+/alert")
    device = Peer(broker, DEV, "pw")
    device.publish("panic/v1/dev/pb-000000000000/alert")
    device.publish(f"panic/v1/dev/{DEV}/alert")
    assert received(gateway) == [f"panic/v1/dev/{DEV}/alert"]
    device.close()
    gateway.close()


def test_rotation_disconnects_the_live_session_and_retires_the_old_password(broker: BrokerUnderTest) -> None:
    accounts = broker.config.accounts()
    accounts.set(DEV, "old")
    live = Peer(broker, DEV, "old")
    accounts.set(DEV, "new")
    assert live.disconnected.wait(5)
    live.close()
    assert connack(broker, DEV, "old") == REFUSED
    assert connack(broker, DEV, "new") == ACCEPTED


def test_removal_disconnects_the_live_session_and_refuses_it_after(broker: BrokerUnderTest) -> None:
    accounts = broker.config.accounts()
    accounts.set(DEV, "pw")
    live = Peer(broker, DEV, "pw")
    accounts.remove(DEV)
    assert live.disconnected.wait(5)
    live.close()
    assert connack(broker, DEV, "pw") == REFUSED
    assert policy.device_role_name(DEV) not in broker.config.dynsec_file.read_text()


def test_set_and_remove_are_idempotent(broker: BrokerUnderTest) -> None:
    accounts = broker.config.accounts()
    accounts.remove(DEV)  # nothing there: fine
    accounts.set(DEV, "pw")
    accounts.set(DEV, "pw")
    assert connack(broker, DEV, "pw") == ACCEPTED
    accounts.remove(DEV)
    accounts.remove(DEV)
    assert connack(broker, DEV, "pw") == REFUSED


@pytest.mark.parametrize("undone", ["client", "role of the client", "role"])
def test_a_set_interrupted_at_any_step_completes_on_retry(broker: BrokerUnderTest, undone: str) -> None:
    accounts = broker.config.accounts()
    accounts.set(DEV, "pw")
    role = policy.device_role_name(DEV)
    # Take the account back to what a set() cut short would have left.
    partial = {
        "client": [{"command": "deleteClient", "username": DEV}],  # role created, client not yet
        "role of the client": [{"command": "removeClientRole", "username": DEV, "rolename": role}],
        "role": [{"command": "deleteRole", "rolename": role}],
    }[undone]
    accounts._run(partial)
    accounts.set(DEV, "retried")
    gateway = Peer(broker, "gateway", broker.config.gateway_password)
    gateway.subscribe("panic/v1/dev/+/alert")
    device = Peer(broker, DEV, "retried")
    device.publish(f"panic/v1/dev/{DEV}/alert")
    assert received(gateway) == [f"panic/v1/dev/{DEV}/alert"]
    device.close()
    gateway.close()


def test_several_gateways_issue_accounts_at_once(broker: BrokerUnderTest) -> None:
    """Every admin connection sees every response: each caller must pick its own."""
    devices = [f"pb-{n:012x}" for n in range(1, 13)]
    errors: list[BaseException] = []

    def issue(chunk: list[str]) -> None:
        accounts = broker.config.accounts()  # one per "gateway", each with its own connections
        try:
            for device in chunk:
                accounts.set(device, f"pw-{device}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=issue, args=(devices[i::3],)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [connack(broker, d, f"pw-{d}") for d in devices] == [ACCEPTED] * len(devices)


@pytest.mark.parametrize("user", ["", "pb-+", "pb-#", "pb/x", "pb-\n", "gateway", "dispatch", "admin"])
def test_names_that_would_widen_acls_or_take_a_service_account_are_refused(broker: BrokerUnderTest,
                                                                           user: str) -> None:
    with pytest.raises(ValueError):
        broker.config.accounts().set(user, "x")
    with pytest.raises(ValueError):
        broker.config.accounts().remove(user)


def test_an_unreachable_broker_raises_broker_unavailable() -> None:
    accounts = DynsecAccounts("127.0.0.1", free_port(), "admin", "secret-admin-pw", timeout=2)
    with pytest.raises(BrokerUnavailable) as raised:
        accounts.set(DEV, "secret-device-pw")
    assert isinstance(raised.value, OSError)
    assert "secret" not in str(raised.value)


def test_a_wrong_admin_password_raises_broker_unavailable(broker: BrokerUnderTest) -> None:
    accounts = DynsecAccounts(broker.host, broker.port, "admin", "wrong", timeout=5)
    with pytest.raises(BrokerUnavailable, match="refused the admin account"):
        accounts.set(DEV, "pw")


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts and never answers (a hung broker)."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_no_answer_within_the_timeout_raises_broker_unavailable(silent_server: int) -> None:
    accounts = DynsecAccounts("127.0.0.1", silent_server, "admin", "pw", timeout=1)
    with pytest.raises(BrokerUnavailable, match="no answer"):
        accounts.remove(DEV)
