"""`prepare()`: the state directory a broker starts from, new, re-used, or from before dynamic security."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path

from broker import policy
from broker.credentials import hashed_password, password_file_entry, verifies
from broker.run import Mosquitto, free_port, prepare
from tests.broker.peers import ACCEPTED, REFUSED, Peer, connack, received
from tests.conftest import BrokerUnderTest

DEV = "pb-a1a1a1a1a1a1"


def mosquitto_passwd_line(user: str, password: str, salt: bytes) -> str:
    """What `mosquitto_passwd` 2.0 writes: PBKDF2-SHA512, 101 iterations."""
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101, 64)
    return f"{user}:$7$101${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def test_password_hashes_have_the_plugins_format() -> None:
    hashed = hashed_password("secret", salt=bytes(12))
    assert hashed["salt"] == "AAAAAAAAAAAAAAAA" and hashed["iterations"] == 101
    assert len(base64.b64decode(hashed["password"])) == 64
    assert verifies("secret", hashed) and not verifies("Secret", hashed)
    user, converted = password_file_entry(mosquitto_passwd_line("u", "pw", bytes(range(12)))) or ("", {})
    assert user == "u" and verifies("pw", converted)
    assert password_file_entry("u:$6$plain") is None and password_file_entry("# comment") is None


def test_the_plugin_file_holds_hashes_only_and_is_private(broker: BrokerUnderTest) -> None:
    broker.add_device(DEV, "device-secret")  # the broker rewrites the file: still private
    path = broker.config.dynsec_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert DEV in text
    for secret in (broker.config.admin_password, broker.config.gateway_password, broker.config.dispatch_password,
                   "device-secret"):
        assert secret not in text
    assert stat.S_IMODE((path.parent / "accounts.json").stat().st_mode) == 0o600


def test_a_restart_keeps_device_accounts_and_service_passwords(tmp_path: Path) -> None:
    port = free_port()
    first = prepare(tmp_path, port)
    with Mosquitto(first):
        first.accounts().set(DEV, "pw")
    again = prepare(tmp_path, port)
    assert (again.admin_password, again.gateway_password) == (first.admin_password, first.gateway_password)
    running = BrokerUnderTest(again)
    with Mosquitto(again):
        assert connack(running, DEV, "pw") == ACCEPTED
        assert connack(running, "gateway", again.gateway_password) == ACCEPTED


def test_roles_changed_by_hand_are_put_back_at_start(tmp_path: Path) -> None:
    """The rules live in broker/policy.py; an edited or stale file is corrected before the broker reads it."""
    port = free_port()
    config = prepare(tmp_path, port)
    with Mosquitto(config):
        config.accounts().set(DEV, "pw")
    stale = json.loads(config.dynsec_file.read_text())
    for role in stale["roles"]:
        if role["rolename"] in ("dispatch", policy.device_role_name(DEV)):
            role["acls"].append({"acltype": "publishClientSend", "topic": "#", "priority": 9, "allow": True})
    config.dynsec_file.write_text(json.dumps(stale))
    config = prepare(tmp_path, port)
    running = BrokerUnderTest(config)
    with Mosquitto(config):
        gateway = Peer(running, "gateway", config.gateway_password)
        gateway.subscribe("panic/v1/dev/+/alert")
        offenders = [Peer(running, "dispatch", config.dispatch_password), Peer(running, DEV, "pw")]
        offenders[0].publish("panic/v1/dev/dispatch/alert")
        offenders[1].publish("panic/v1/dev/pb-000000000000/alert")
        assert received(gateway) == []
        for peer in [gateway, *offenders]:
            peer.close()


def test_a_state_directory_from_the_password_file_era_keeps_its_devices(tmp_path: Path) -> None:
    """Device accounts move into the plugin with their passwords; the old files go."""
    (tmp_path / "accounts.json").write_text(json.dumps({"gateway": "gw-pw", "dispatch": "ds-pw"}))
    (tmp_path / "passwd").write_text("\n".join([
        mosquitto_passwd_line("gateway", "gw-pw", bytes(12)),
        mosquitto_passwd_line(DEV, "device-pw", bytes(range(12))),
        "pb-bad+name:$7$101$AAAAAAAAAAAAAAAA$AAAA",
    ]) + "\n")
    (tmp_path / "acl").write_text("pattern write panic/v1/dev/%u/#\n")
    config = prepare(tmp_path, free_port())
    assert config.gateway_password == "gw-pw" and config.admin_password
    assert not (tmp_path / "passwd").exists() and (tmp_path / "passwd.imported").exists()
    assert not (tmp_path / "acl").exists()
    running = BrokerUnderTest(config)
    with Mosquitto(config):
        assert connack(running, DEV, "device-pw") == ACCEPTED
        assert connack(running, "gateway", "gw-pw") == ACCEPTED
        config.accounts().remove(DEV)
    prepare(tmp_path, config.port)  # a removed device is not imported again
    with Mosquitto(config):
        assert connack(running, DEV, "device-pw") == REFUSED


def test_a_readable_service_password_file_is_made_private(tmp_path: Path) -> None:
    """accounts.json holds the admin, gateway and dispatch passwords in clear: whatever mode it came
    with (copied, restored from a backup), prepare() leaves it readable by its owner only."""
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps({name: f"pw-{name}" for name in policy.SERVICE_ACCOUNTS}))
    path.chmod(0o644)
    config = prepare(tmp_path, free_port())
    assert config.gateway_password == f"pw-{policy.GATEWAY}", "the passwords are kept"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
