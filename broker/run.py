"""Render the project's Mosquitto configuration and run the broker.

`prepare()` lays out a state directory (config, the dynamic-security file with
the admin, gateway and dispatch accounts, persistence, pid file); `Mosquitto`
starts and stops a broker on it. Tests, the demo and `panic-broker` all go through here,
so the broker under test is configured exactly as the one in production.
"""

from __future__ import annotations

import argparse
import getpass
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from broker import dynsec_config, policy, tls
from broker.accounts import DynsecAccounts
from broker.credentials import new_password

HERE = Path(__file__).resolve().parent
ACCOUNTS_FILE = "accounts.json"
DYNSEC_FILE = "dynamic-security.json"
DYNSEC_PLUGIN = "mosquitto_dynamic_security.so"


def find_mosquitto() -> str:
    """Path of the mosquitto binary (it lives in /usr/sbin on Debian)."""
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), None
    )
    if not found:
        raise FileNotFoundError(
            "mosquitto is not installed: on Debian/Ubuntu run `sudo apt-get install mosquitto`"
        )
    return found


def find_dynsec_plugin() -> str:
    """Path of Mosquitto's dynamic-security plugin (Debian: /usr/lib/<arch>/)."""
    candidates = [os.environ.get("PANIC_MOSQUITTO_DYNSEC_PLUGIN", ""),
                  *sorted(glob.glob(f"/usr/lib/*/{DYNSEC_PLUGIN}")),
                  *(f"{lib}/{DYNSEC_PLUGIN}" for lib in ("/usr/lib", "/usr/local/lib", "/usr/lib64"))]
    found = next((p for p in candidates if p and os.path.exists(p)), None)
    if not found:
        raise FileNotFoundError(
            f"Mosquitto's {DYNSEC_PLUGIN} was not found (it ships with the mosquitto package, 2.0 or "
            "later); set PANIC_MOSQUITTO_DYNSEC_PLUGIN to its path"
        )
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGTERM,
                 timeout: float = 10.0) -> None:
    """Ask a child to end with `sig`; SIGKILL it if it has not within `timeout` s."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class BrokerConfig:
    state_dir: Path
    host: str
    port: int
    gateway_password: str
    dispatch_password: str
    admin_password: str
    tls_port: int | None = None  # the TLS listener, on the same address (None: no TLS listener)
    tls_files: tls.TlsFiles | None = None

    @property
    def ca_der(self) -> Path | None:
        """The CA certificate a button holds (flash ``ca.der``), when panic-broker made the CA."""
        return self.tls_files.ca_der if self.tls_files else None

    @property
    def config_file(self) -> Path:
        return self.state_dir / "mosquitto.conf"

    @property
    def dynsec_file(self) -> Path:
        return self.state_dir / DYNSEC_FILE

    @property
    def log_file(self) -> Path:
        return self.state_dir / "mosquitto.log"

    def accounts(self) -> DynsecAccounts:
        """Device accounts of this broker, managed with its admin account (the broker must run)."""
        return DynsecAccounts(self.host, self.port, policy.ADMIN, self.admin_password)


def prepare(state_dir: Path | str, port: int, bind: str = "127.0.0.1", *, tls_port: int | None = None,
            tls_hosts: Sequence[str] = (), tls_cert: Path | None = None,
            tls_key: Path | None = None) -> BrokerConfig:
    """Create or refresh the broker's state directory (broker stopped); keeps existing accounts.

    With `tls_port` there is a second listener, TLS only, on the same address: its certificate
    is `tls_cert`/`tls_key` when given (a real CA's), else one signed by the development CA kept in
    ``<state>/tls`` (broker/tls.py) for localhost, 127.0.0.1, `bind` and `tls_hosts`.
    """
    state = Path(state_dir).resolve()
    state.mkdir(parents=True, exist_ok=True)
    files = None
    if tls_port is not None:
        if (tls_cert is None) != (tls_key is None):
            raise tls.TlsError("a TLS certificate needs its key, and a key its certificate")
        files = (tls.given(tls_cert, tls_key) if tls_cert is not None and tls_key is not None
                 else tls.ensure(state, [bind, *tls_hosts]))
    template = (HERE / "mosquitto.conf.in").read_text()
    (state / "mosquitto.conf").write_text(
        template.format(
            state_dir=state, port=port, bind=bind, user=getpass.getuser(), dynsec_plugin=find_dynsec_plugin(),
            log_dest=f"file {state / 'mosquitto.log'}", tls_listener=tls_listener(tls_port, bind, files),
        )
    )
    passwords = service_passwords(state / ACCOUNTS_FILE)
    dynsec_config.refresh(state / DYNSEC_FILE, passwords)
    return BrokerConfig(state, bind, port, passwords[policy.GATEWAY], passwords[policy.DISPATCH],
                        passwords[policy.ADMIN], tls_port, files)


def tls_listener(port: int | None, bind: str, files: tls.TlsFiles | None) -> str:
    """The configuration lines of the TLS listener ("" without one)."""
    if port is None or files is None:
        return ""
    return (
        "\n# TLS for buttons on untrusted networks (cellular, shop Wi-Fi): the same accounts and rules.\n"
        "# Certificate and key from broker/tls.py or --tls-cert/--tls-key (docs/operations.md, TLS).\n"
        f"listener {port} {bind}\n"
        f"certfile {files.cert}\n"
        f"keyfile {files.key}\n"
        "tls_version tlsv1.2\n"
    )


def service_passwords(path: Path) -> dict[str, str]:
    """The service accounts' passwords, kept in `path` (mode 0600); missing ones are created."""
    passwords: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [name for name in policy.SERVICE_ACCOUNTS if not passwords.get(name)]
    path.touch(mode=0o600)
    path.chmod(0o600)  # also when it exists already: it holds the passwords in clear
    if missing:
        passwords.update({name: new_password() for name in missing})
        path.write_text(json.dumps(passwords))
    return passwords


class Mosquitto:
    """A mosquitto process running on a prepared state directory."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        self.process = subprocess.Popen(
            [find_mosquitto(), "-c", str(self.config.config_file)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"mosquitto exited with {self.process.returncode}: {err.strip()}")
            try:
                for port in (self.config.port, self.config.tls_port):
                    if port is not None:
                        socket.create_connection((self.config.host, port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"mosquitto did not listen on port {self.config.port} in {timeout}s")

    def stop(self) -> None:
        if self.process is None:
            return
        stop_process(self.process)
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="panic-broker", description="Run Mosquitto with the panic-button configuration."
    )
    parser.add_argument("--dir", default="var/broker", help="state directory (default: var/broker)")
    parser.add_argument("--port", type=int, default=18830, help="listener port (default: 18830)")
    parser.add_argument("--bind", default="127.0.0.1", help="listen address (default: 127.0.0.1)")
    parser.add_argument("--tls-port", type=int, default=18883, help="TLS listener port (default: 18883)")
    parser.add_argument("--no-tls", action="store_true", help="no TLS listener")
    parser.add_argument("--tls-host", action="append", default=[], metavar="NAME",
                        help="a name buttons dial, put in the development certificate (repeatable; "
                             "localhost, 127.0.0.1 and --bind are always in it)")
    parser.add_argument("--tls-cert", type=Path, help="certificate chain (PEM) from a real CA, instead of "
                        "the development CA's")
    parser.add_argument("--tls-key", type=Path, help="its private key (PEM, unencrypted, mode 0600)")
    parser.add_argument("--prepare-only", action="store_true", help="write the state directory and exit")
    args = parser.parse_args(argv)
    try:
        config = prepare(args.dir, args.port, args.bind, tls_port=None if args.no_tls else args.tls_port,
                         tls_hosts=args.tls_host, tls_cert=args.tls_cert, tls_key=args.tls_key)
    except tls.TlsError as e:
        parser.error(str(e))
    print(f"broker state in {config.state_dir}; admin, gateway and dispatch passwords in "
          f"{config.state_dir / ACCOUNTS_FILE}; log in {config.log_file}", file=sys.stderr)
    if config.tls_port is not None:
        ca = f"; buttons hold {config.ca_der} as ca.der" if config.ca_der else ""
        print(f"TLS listener on {config.host}:{config.tls_port}{ca}", file=sys.stderr)
    if args.prepare_only:
        return 0
    os.execv(find_mosquitto(), [find_mosquitto(), "-c", str(config.config_file)])


if __name__ == "__main__":
    sys.exit(main())
