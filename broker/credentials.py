"""Broker passwords: random generation and the hashed form Mosquitto stores.

Mosquitto 2.0 hashes passwords with PBKDF2-HMAC-SHA512, 101 iterations, a
12-byte salt and a 64-byte digest, both for `mosquitto_passwd` files
(`user:$7$<iterations>$<salt b64>$<hash b64>`) and for the dynamic-security
plugin's config (`"password"`, `"salt"`, `"iterations"` of a client). Only
the hash is written anywhere; callers hand the plain password out once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

PBKDF2_ITERATIONS = 101  # what mosquitto_passwd and the dynamic-security plugin use
SALT_BYTES = 12  # the plugin refuses any other salt length


def new_password() -> str:
    """A random password for a broker account (URL-safe, 32 characters)."""
    return secrets.token_urlsafe(24)


def hashed_password(password: str, *, salt: bytes | None = None) -> dict[str, Any]:
    """The `password`, `salt` and `iterations` fields of a dynamic-security client."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    return {
        "password": base64.b64encode(_digest(password, salt, PBKDF2_ITERATIONS)).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": PBKDF2_ITERATIONS,
    }


def verifies(password: str, hashed: dict[str, Any]) -> bool:
    """Whether `hashed` (fields as from `hashed_password`) is the hash of `password`."""
    try:
        salt, stored = base64.b64decode(hashed["salt"]), base64.b64decode(hashed["password"])
        return hmac.compare_digest(_digest(password, salt, int(hashed["iterations"])), stored)
    except (KeyError, ValueError, TypeError):
        return False


def _digest(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)


def password_file_entry(line: str) -> tuple[str, dict[str, Any]] | None:
    """A `mosquitto_passwd` line as (user, dynamic-security password fields); None if not `$7$`.

    Both formats hold the same PBKDF2-SHA512 hash, so accounts of the old
    password file move to the plugin without their passwords changing.
    """
    user, _, hashed = line.strip().partition(":")
    parts = hashed.split("$")
    if not user or len(parts) != 5 or parts[:2] != ["", "7"]:
        return None
    try:
        iterations, salt = int(parts[2]), base64.b64decode(parts[3], validate=True)
        base64.b64decode(parts[4], validate=True)
    except ValueError:
        return None
    if len(salt) != SALT_BYTES:
        return None
    return user, {"password": parts[4], "salt": parts[3], "iterations": iterations}
