"""The broker's TLS listener and the development CA that `panic-broker` makes (broker/tls.py)."""

from __future__ import annotations

import datetime
import socket
import ssl
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from paho.mqtt.enums import CallbackAPIVersion

from broker import tls
from broker.run import BrokerConfig, Mosquitto, free_port, prepare

DEV = "pb-a1a1a1a1a1a1"


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[BrokerConfig]:
    config = prepare(tmp_path / "broker", free_port(), tls_port=free_port(), tls_hosts=["mqtt.example.org"])
    with Mosquitto(config):
        config.accounts().set(DEV, "device-pw")
        yield config


def handshake(config: BrokerConfig, server_hostname: str, cafile: Path | None = None) -> list[str]:
    """TLS to the listener as a client that checks the certificate; the names the certificate holds."""
    ctx = ssl.create_default_context(cafile=str(cafile or config.state_dir / "tls" / "ca.pem"))
    assert config.tls_port is not None
    with socket.create_connection((config.host, config.tls_port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=server_hostname) as conn:
        cert = conn.getpeercert()
        assert cert is not None
        return [str(entry[1]) for entry in cert["subjectAltName"]]


def mqtt_connack(config: BrokerConfig, user: str, password: str, *, use_tls: bool, port: int) -> str:
    """The CONNACK's reason name, or the exception's name when the connection never got one."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{user}")
    client.username_pw_set(user, password)
    if use_tls:
        client.tls_set(ca_certs=str(config.state_dir / "tls" / "ca.pem"))
    result: list[str] = []
    client.on_connect = lambda _c, _u, _f, rc, _p: result.append(rc.getName())
    client.on_disconnect = lambda _c, _u, _f, rc, _p: result.append("closed")
    try:
        client.connect(config.host, port, keepalive=5)
        for _ in range(200):
            client.loop(0.05)
            if result:
                break
    except (OSError, ssl.SSLError) as e:
        result.append(type(e).__name__)
    finally:
        client.disconnect()
    return result[0] if result else "nothing"


def test_the_tls_listener_takes_the_same_accounts_over_a_verified_connection(tls_broker: BrokerConfig) -> None:
    assert tls_broker.tls_port is not None
    assert mqtt_connack(tls_broker, DEV, "device-pw", use_tls=True, port=tls_broker.tls_port) == "Success"
    assert mqtt_connack(tls_broker, DEV, "wrong", use_tls=True, port=tls_broker.tls_port) == "Not authorized"
    assert mqtt_connack(tls_broker, DEV, "device-pw", use_tls=False, port=tls_broker.port) == "Success"


def test_the_certificate_names_localhost_the_address_and_the_configured_host(tls_broker: BrokerConfig) -> None:
    for name in ("localhost", "127.0.0.1", "mqtt.example.org"):
        assert handshake(tls_broker, name) == ["localhost", "127.0.0.1", "mqtt.example.org"]
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        handshake(tls_broker, "other.example.org")


def test_another_ca_is_refused(tls_broker: BrokerConfig, tmp_path: Path) -> None:
    other = tls.ensure(tmp_path / "other")
    assert other.ca_pem is not None
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        handshake(tls_broker, "localhost", cafile=other.ca_pem)


def test_a_plain_client_on_the_tls_port_fails_cleanly(tls_broker: BrokerConfig) -> None:
    """No CONNACK, the connection closed; the broker goes on serving TLS clients."""
    assert tls_broker.tls_port is not None
    assert mqtt_connack(tls_broker, DEV, "device-pw", use_tls=False, port=tls_broker.tls_port) == "closed"
    assert mqtt_connack(tls_broker, DEV, "device-pw", use_tls=True, port=tls_broker.tls_port) == "Success"


def test_private_keys_are_private_and_the_ca_is_kept(tmp_path: Path) -> None:
    state = tmp_path / "broker"
    first = prepare(state, free_port(), tls_port=free_port())
    files = first.tls_files
    assert files is not None and files.ca_der is not None and first.ca_der == files.ca_der
    for key in (state / "tls" / "ca.key", files.key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    ca = files.ca_der.read_bytes()
    x509.load_der_x509_certificate(ca)  # the form a button holds
    server = files.cert.read_bytes()
    assert b"PRIVATE" not in first.config_file.read_text().encode()
    (state / "tls" / "ca.key").chmod(0o644)  # restored from a backup with the wrong mode
    again = prepare(state, first.port, tls_port=first.tls_port)
    assert again.tls_files is not None and again.tls_files.ca_der is not None
    assert again.tls_files.ca_der.read_bytes() == ca, "the CA stays: provisioned buttons keep trusting it"
    assert again.tls_files.cert.read_bytes() == server, "a current certificate is not made again"
    assert stat.S_IMODE((state / "tls" / "ca.key").stat().st_mode) == 0o600


def test_a_new_host_or_an_expiring_certificate_gets_a_new_one_from_the_same_ca(tmp_path: Path) -> None:
    state = tmp_path / "broker"
    first = tls.ensure(state)
    assert first.ca_der is not None
    ca_der = first.ca_der.read_bytes()
    renamed = tls.ensure(state, ["mqtt.example.org"])
    cert = x509.load_pem_x509_certificate(renamed.cert.read_bytes())
    assert "mqtt.example.org" in str(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    # one that expires within RENEW_DAYS, signed by the same CA with the same key, is renewed too
    ca_key = serialization.load_pem_private_key((state / "tls" / "ca.key").read_bytes(), password=None)
    key = serialization.load_pem_private_key(renamed.key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey) and isinstance(key, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_der_x509_certificate(ca_der)
    short = tls.server_certificate(key.public_key(), ca_key, ca_cert, tls.names(["localhost", "127.0.0.1"]), days=3)
    renamed.cert.write_bytes(short.public_bytes(serialization.Encoding.PEM))
    renewed = tls.ensure(state)
    cert = x509.load_pem_x509_certificate(renewed.cert.read_bytes())
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=tls.RENEW_DAYS)
    assert cert.not_valid_after_utc > soon
    assert renewed.ca_der is not None and renewed.ca_der.read_bytes() == ca_der


def test_a_real_cas_certificate_is_used_as_given_and_a_wrong_key_refused(tmp_path: Path) -> None:
    elsewhere = tls.ensure(tmp_path / "company-ca")  # stands for a certificate issued by another CA
    config = prepare(tmp_path / "broker", free_port(), tls_port=free_port(),
                     tls_cert=elsewhere.cert, tls_key=elsewhere.key)
    assert config.ca_der is None and not (tmp_path / "broker" / "tls").exists()
    assert f"certfile {elsewhere.cert}" in config.config_file.read_text()
    with Mosquitto(config):
        assert elsewhere.ca_pem is not None
        assert handshake(config, "localhost", cafile=elsewhere.ca_pem)[0] == "localhost"
    other_key = tls.ensure(tmp_path / "other").key
    secret = other_key.read_text()
    with pytest.raises(tls.TlsError, match="is not the key of") as err:
        prepare(tmp_path / "broker", free_port(), tls_port=free_port(), tls_cert=elsewhere.cert, tls_key=other_key)
    assert secret.splitlines()[1] not in str(err.value)


def test_panic_broker_prints_where_the_ca_is_never_the_key(tmp_path: Path) -> None:
    state = tmp_path / "broker"
    done = subprocess.run([sys.executable, "-m", "broker.run", "--dir", str(state), "--port", str(free_port()),
                           "--tls-port", str(free_port()), "--prepare-only"],
                          capture_output=True, text=True, check=True, timeout=60)
    out = done.stdout + done.stderr
    assert f"buttons hold {state.resolve() / 'tls' / 'ca.der'} as ca.der" in out
    key = (state / "tls" / "ca.key").read_text()
    assert "PRIVATE" not in out and key.splitlines()[1] not in out
