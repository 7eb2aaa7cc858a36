"""Broker credentials: Mosquitto 2 password-file entries, written atomically.

Mosquitto's `password_file` holds `user:$7$<iterations>$<salt b64>$<hash b64>`
(PBKDF2-HMAC-SHA512, the format `mosquitto_passwd` writes). The gateway issues
a device's credentials at registration by adding such a line and sending the
broker SIGHUP, which makes Mosquitto re-read the password and ACL files.
Plain passwords are never written anywhere; callers hand them out once.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import signal
import tempfile
import threading
from pathlib import Path

PBKDF2_ITERATIONS = 101  # what mosquitto_passwd 2.0 uses
SALT_BYTES = 12

_file_lock = threading.Lock()


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Return the `$7$` password-file hash of `password`."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS, 64)
    return f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def new_password() -> str:
    """A random password for a broker account (URL-safe, 32 characters)."""
    return secrets.token_urlsafe(24)


class PasswordFile:
    """A Mosquitto password file that can be updated while the broker runs."""

    def __init__(self, path: Path | str, pid_file: Path | str | None = None) -> None:
        self.path = Path(path)
        self.pid_file = Path(pid_file) if pid_file else None

    def users(self) -> list[str]:
        return list(self._read())

    def set(self, user: str, password: str) -> None:
        """Add or replace `user`, then ask the broker to reload."""
        if ":" in user or not user or "\n" in user:
            raise ValueError("a broker username must be non-empty without ':' or newlines")
        with _file_lock:
            entries = self._read()
            entries[user] = hash_password(password)
            self._write(entries)
        self.reload_broker()

    def remove(self, user: str) -> None:
        with _file_lock:
            entries = self._read()
            if entries.pop(user, None) is None:
                return
            self._write(entries)
        self.reload_broker()

    def reload_broker(self) -> bool:
        """SIGHUP the broker named by the pid file; False if none is running."""
        if self.pid_file is None or not self.pid_file.exists():
            return False
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, signal.SIGHUP)
        except (ValueError, ProcessLookupError, PermissionError):
            return False
        return True

    def _read(self) -> dict[str, str]:
        entries: dict[str, str] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                if line and not line.startswith("#") and ":" in line:
                    user, hashed = line.split(":", 1)
                    entries[user] = hashed
        return entries

    def _write(self, entries: dict[str, str]) -> None:
        # Write a temporary file in the same directory and rename it over the
        # old one, so the broker never reads a half-written file.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".passwd.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                f.writelines(f"{user}:{hashed}\n" for user, hashed in entries.items())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
