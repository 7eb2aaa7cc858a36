"""The MQTT client over TLS (firmware/panic/tls.py, the socket factory in panic/mqttc.py).

The firmware under the MicroPython unix port (110 KB heap) against the project's Mosquitto with its
TLS listener and development CA (broker/tls.py); the CA a unit holds is ``ca.der`` in the working
directory, as on its flash.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from broker import tls
from broker.run import free_port, prepare
from tests.conftest import BrokerUnderTest, running_broker
from tests.firmware.conftest import Device, Peer
from tests.firmware.test_mqtt import result, script, topic

RunMP = Callable[..., Any]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerUnderTest]:
    """The project's broker with its TLS listener (this module's `device` and `gateway` use it)."""
    with running_broker(prepare(tmp_path / "broker", free_port(), tls_port=free_port())) as running:
        yield running


@pytest.fixture
def flash(tmp_path: Path, broker: BrokerUnderTest) -> Path:
    """A unit's flash holding the broker's CA."""
    where = tmp_path / "flash"
    where.mkdir()
    assert broker.config.ca_der is not None
    shutil.copyfile(broker.config.ca_der, where / "ca.der")
    return where


CONNECT = """
    async def main():
        c = MQTTClient(DEV, HOST_, PORT_, user=DEV, password=PW)
        for attempt in range(ATTEMPTS):
            try:
                await c.connect(timeout_ms=5000)
                print("CONNECTED", json.dumps(c.is_connected()))
                await c.publish(TOPIC, b'{"over":"tls"}', qos=1)
                print("PUBLISHED", json.dumps(c.stats["sent"]))
                await c.disconnect()
            except Exception as e:
                print("FAILED", json.dumps([type(e).__name__, str(e).strip()]))
        import os
        print("FDS", json.dumps(len(os.listdir("/proc/self/fd"))))
"""


def connect(run_micropython: RunMP, flash: Path, device: Device, host: str, port: int, attempts: int = 1,
            **consts: Any) -> str:
    out: str = run_micropython(script(CONNECT, device, HOST_=host, PORT_=port, ATTEMPTS=attempts,
                                      TOPIC=topic(device, "alert"), **consts), cwd=flash).stdout
    return out


def test_publishes_over_tls_with_the_certificate_checked(
    run_micropython: RunMP, broker: BrokerUnderTest, device: Device, gateway: Peer, flash: Path
) -> None:
    gateway.subscribe(topic(device, "alert"), qos=1)
    for host in ("localhost", "127.0.0.1"):  # a name and an address, both in the certificate
        out = connect(run_micropython, flash, device, "mqtts://" + host, broker.config.tls_port)
        assert result(out, "CONNECTED") is True, out
        assert result(out, "PUBLISHED") == 1
        message = gateway.get()
        assert (message.topic, message.payload) == (topic(device, "alert"), b'{"over":"tls"}')


def test_another_ca_is_refused_in_one_log_line_and_leaves_no_socket_open(
    run_micropython: RunMP, broker: BrokerUnderTest, device: Device, flash: Path, tmp_path: Path
) -> None:
    other = tls.ensure(tmp_path / "other")
    assert other.ca_der is not None
    shutil.copyfile(other.ca_der, flash / "ca.der")
    once = connect(run_micropython, flash, device, "mqtts://localhost", broker.config.tls_port)
    out = connect(run_micropython, flash, device, "mqtts://localhost", broker.config.tls_port, attempts=5)
    failed = [json.loads(line[7:]) for line in out.splitlines() if line.startswith("FAILED ")]
    assert failed == [["ValueError", "The certificate is not correctly signed by the trusted CA"]] * 5
    lines = re.findall(rf'^E \d+ tls: handshake failed host=mqtts://localhost port={broker.config.tls_port} '
                       r'err="The certificate is not correctly signed by the trusted CA"$', out, re.M)
    assert len(lines) == 5, out
    assert result(out, "FDS") == result(once, "FDS"), "every failed attempt closed its socket"


def test_a_certificate_for_another_name_is_refused(
    run_micropython: RunMP, device: Device, flash: Path, tmp_path: Path
) -> None:
    """The project's CA signed it, but for mqtt.example.org only: dialling 127.0.0.1 must fail."""
    ca_dir = tmp_path / "broker" / "tls"
    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.pem").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = tls.server_certificate(key.public_key(), ca_key, ca_cert, tls.names(["mqtt.example.org"]))
    (tmp_path / "other.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "other.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    config = prepare(tmp_path / "named", free_port(), tls_port=free_port(),
                     tls_cert=tmp_path / "other.pem", tls_key=tmp_path / "other.key")
    with running_broker(config) as named:
        named.add_device(device.id, device.password)
        out = connect(run_micropython, flash, device, "mqtts://127.0.0.1", config.tls_port)
    assert result(out, "FAILED") == ["ValueError", "The certificate Common Name (CN) does not match with the "
                                                   "expected CN"]
    assert " tls: handshake failed host=mqtts://127.0.0.1 " in out


def test_wrong_ports_and_a_missing_ca_fail_cleanly(
    run_micropython: RunMP, broker: BrokerUnderTest, device: Device, flash: Path
) -> None:
    # plain MQTT on the TLS port: the broker closes the connection, no CONNACK
    out = connect(run_micropython, flash, device, "127.0.0.1", broker.config.tls_port)
    assert result(out, "FAILED")[0] == "OSError"
    # TLS on the plain port: the handshake fails, in the tls log line
    out = connect(run_micropython, flash, device, "mqtts://127.0.0.1", broker.port)
    assert result(out, "FAILED")[0] == "OSError"
    assert " tls: handshake failed host=mqtts://127.0.0.1 " in out
    # no CA on the flash: said before anything is sent
    (flash / "ca.der").unlink()
    out = connect(run_micropython, flash, device, "mqtts://127.0.0.1", broker.config.tls_port)
    assert result(out, "FAILED") == ["OSError", "no ca.der on the flash: a tls endpoint needs the broker's CA"]
    # a PEM file (the unix port's mbedTLS reads DER only) or garbage: named as such
    assert broker.config.tls_files is not None and broker.config.tls_files.ca_pem is not None
    for content in (broker.config.tls_files.ca_pem.read_bytes(), b"\x00" * 40):
        (flash / "ca.der").write_bytes(content)
        out = connect(run_micropython, flash, device, "mqtts://127.0.0.1", broker.config.tls_port)
        assert result(out, "FAILED") == ["ValueError", "ca.der is not a DER certificate"]
