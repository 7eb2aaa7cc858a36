"""The dynamic-security plugin's config file, refreshed before the broker starts.

The plugin keeps every account in one JSON file and rewrites it on each
change; this module creates it and, at every start, re-applies what the
project owns: the default-deny rules, the service accounts (`admin`,
`gateway`, `dispatch`, passwords from accounts.json) with their roles, and
the current ACLs of every device role (broker/policy.py). Device clients and
anything else added through `$CONTROL` are kept as they are.

A state directory from before dynamic security has a `passwd` file: its
device accounts move into the plugin's file with their password hashes
unchanged (same PBKDF2-SHA512 format), and the file is renamed so a device
removed later does not come back.

Write only while the broker is stopped: a running broker overwrites the file
with its own state at its next change.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from broker import policy
from broker.credentials import hashed_password, password_file_entry, verifies

LEGACY_PASSWORD_FILE, LEGACY_ACL_FILE = "passwd", "acl"


def refresh(path: Path, service_passwords: dict[str, str]) -> None:
    """Create or update the plugin config at `path` (see the module docstring)."""
    config: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    clients = {c["username"]: c for c in config.get("clients", [])}
    roles = {r["rolename"]: r for r in config.get("roles", [])}
    legacy = path.parent / LEGACY_PASSWORD_FILE
    imported = _legacy_devices(legacy, skip=set(clients))
    clients.update({user: {"username": user, **hashed} for user, hashed in imported.items()})

    for name, acls in policy.service_roles().items():
        roles[name] = {"rolename": name, "acls": acls}
        client = clients.setdefault(name, {"username": name})
        if not verifies(service_passwords[name], client):
            client.update(hashed_password(service_passwords[name]))
        client["roles"] = [{"rolename": name, "priority": 0}]
    for user, client in clients.items():
        role = policy.device_role_name(user)
        if user in imported or role in roles:
            roles[role] = {"rolename": role, "acls": policy.device_acls(user)}
            client["roles"] = [{"rolename": role, "priority": 0}]

    config.update(defaultACLAccess=policy.DEFAULT_ACL_ACCESS, clients=list(clients.values()),
                  roles=list(roles.values()), groups=config.get("groups", []))
    _write_private(path, json.dumps(config, indent=1))
    if legacy.exists():
        legacy.rename(legacy.with_name(LEGACY_PASSWORD_FILE + ".imported"))
    (path.parent / LEGACY_ACL_FILE).unlink(missing_ok=True)  # replaced by the roles above


def _legacy_devices(password_file: Path, skip: set[str]) -> dict[str, dict[str, Any]]:
    if not password_file.exists():
        return {}
    devices = {}
    for line in password_file.read_text().splitlines():
        entry = password_file_entry(line)
        if entry is None or entry[0] in skip or entry[0] in policy.SERVICE_ACCOUNTS:
            continue
        try:
            policy.check_device_username(entry[0])
        except ValueError:
            continue
        devices[entry[0]] = entry[1]
    return devices


def _write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, readable by its owner only (it holds password hashes)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
