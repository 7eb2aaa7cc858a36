"""The broker's TLS material: a development CA that `panic-broker` makes, and the listener's certificate.

`ensure()` keeps, in ``<state>/tls/``:

========================  ======  ==============================================================
``ca.key``                0600    the CA's private key (EC P-256); never printed, never copied
``ca.pem`` / ``ca.der``   0644    the CA certificate (10 years); ``ca.der`` is what a button holds
``server.key``            0600    the listener's private key (EC P-256)
``server.pem``            0644    the listener's certificate, signed by the CA
========================  ======  ==============================================================

The CA is made once and kept: every button provisioned with its ``ca.der`` keeps
trusting the broker across restarts. The server certificate is made again
(with the same CA) when it is missing, not signed by this CA, expires within
`RENEW_DAYS`, or does not name every host a button may dial: ``localhost``,
``127.0.0.1`` and the hosts given (the broker's public name). Keys are written
to a temporary file created with mode 0600 and renamed into place, so they are
never readable by others, not even for a moment.

EC P-256 rather than RSA: the button's mbedTLS verifies it with far less
work and memory (docs/benchmarks.md, *TLS*). This is for development and for
a closed deployment that runs its own CA; docs/operations.md says how to use a
certificate from a public or company CA instead.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TLS_DIR = "tls"
CA_DAYS = 3650
SERVER_DAYS = 825  # the longest validity clients accept for a server certificate
RENEW_DAYS = 30
DEFAULT_HOSTS = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class TlsFiles:
    """Where the listener's certificate and key and the CA certificate a button holds are."""

    cert: Path
    key: Path
    ca_pem: Path | None  # None when the certificate comes from elsewhere (a real CA)
    ca_der: Path | None


class TlsError(ValueError):
    """A certificate or key that cannot be used; the message names the file, never key material."""


def ensure(state_dir: Path, hosts: Sequence[str] = ()) -> TlsFiles:
    """The development CA and a current server certificate for `hosts` (plus localhost, 127.0.0.1)."""
    tls = state_dir / TLS_DIR
    tls.mkdir(parents=True, exist_ok=True)
    wanted = names([*DEFAULT_HOSTS, *hosts])
    ca_key_path, ca_pem, ca_der = tls / "ca.key", tls / "ca.pem", tls / "ca.der"
    if ca_key_path.exists() and ca_pem.exists():
        ca_key = _load_key(ca_key_path)
        ca_cert = x509.load_pem_x509_certificate(ca_pem.read_bytes())
        ca_key_path.chmod(0o600)  # whatever mode a copy or a backup gave it
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca_certificate(ca_key)
        _write_private(ca_key_path, ca_key)
        ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    ca_der.write_bytes(ca_cert.public_bytes(serialization.Encoding.DER))
    cert_path, key_path = tls / "server.pem", tls / "server.key"
    if not _current(cert_path, key_path, ca_cert, wanted):
        key = ec.generate_private_key(ec.SECP256R1())
        _write_private(key_path, key)
        cert = server_certificate(key.public_key(), ca_key, ca_cert, wanted)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.chmod(0o600)
    return TlsFiles(cert_path, key_path, ca_pem, ca_der)


def given(cert: Path, key: Path) -> TlsFiles:
    """A certificate (chain) and key from a real CA, checked to be readable PEM that belong together."""
    try:
        chain = x509.load_pem_x509_certificates(cert.read_bytes())
    except (OSError, ValueError) as e:
        raise TlsError(f"{cert}: not a PEM certificate chain ({type(e).__name__})") from None
    try:
        private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:  # never the key's text in the message
        raise TlsError(f"{key}: not an unencrypted PEM private key ({type(e).__name__})") from None
    if chain[0].public_key().public_numbers() != private.public_key().public_numbers():  # type: ignore[union-attr]
        raise TlsError(f"{key} is not the key of the first certificate in {cert}")
    return TlsFiles(cert.resolve(), key.resolve(), None, None)


def server_certificate(public_key: ec.EllipticCurvePublicKey, ca_key: ec.EllipticCurvePrivateKey,
                       ca_cert: x509.Certificate, sans: Sequence[x509.GeneralName],
                       days: int = SERVER_DAYS) -> x509.Certificate:
    """A TLS server certificate for the subjectAltName entries `sans` (see names()), signed by the CA."""
    now = datetime.datetime.now(datetime.UTC)
    first = sans[0].value
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(first))]))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, True, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    """subjectAltName entries for host names and IP addresses (a button checks the one it dials)."""
    out: list[x509.GeneralName] = []
    for host in dict.fromkeys(h.strip().lower() for h in hosts if h.strip()):
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            out.append(x509.DNSName(host))
    return out


def _ca_certificate(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "panic-button"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"panic-button development CA {now:%Y-%m-%d}")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _current(cert_path: Path, key_path: Path, ca_cert: x509.Certificate, wanted: list[x509.GeneralName]) -> bool:
    """The server certificate is there, from this CA, valid for RENEW_DAYS more, for every wanted name."""
    if not (cert_path.exists() and key_path.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = _load_key(key_path)
        cert.verify_directly_issued_by(ca_cert)
        have = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        return False
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=RENEW_DAYS)
    same_key = cert.public_key().public_numbers() == key.public_key().public_numbers()  # type: ignore[union-attr]
    return same_key and cert.not_valid_after_utc > soon and all(n in have for n in wanted)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TlsError(f"{path}: not an EC private key")
    return key


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Write a private key readable by its owner only: created 0600, then renamed over `path`."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.replace(tmp, path)
