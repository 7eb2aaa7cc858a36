"""The gateway's registration API as the technician's tool uses it (urllib, no extra dependency)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


class GatewayError(RuntimeError):
    """args: (text key in provision.texts, detail)."""


def token(token_file: Path | None) -> str:
    """From --token-file or PANIC_TOKEN: never a command-line value (it would show in `ps`)."""
    if token_file is not None:
        return token_file.read_text().strip()
    value = os.environ.get("PANIC_TOKEN", "").strip()
    if not value:
        raise GatewayError("no_token", "")
    return value


class Gateway:
    def __init__(self, url: str, tok: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._token = tok
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self._token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            try:
                detail = str(json.loads(e.read()).get("detail", e.reason))
            except (ValueError, AttributeError):
                detail = str(e.reason)
            if e.code == 401:
                raise GatewayError("token_rejected", detail) from None
            raise GatewayError("gateway_error", f"HTTP {e.code}: {detail}") from None
        except (urllib.error.URLError, OSError):
            raise GatewayError("gateway_unreachable", self.url) from None

    def device(self, device_id: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self.call("GET", f"/devices/{device_id}")
            return found
        except GatewayError as e:
            if e.args[0] == "gateway_error" and "HTTP 404" in e.args[1]:
                return None
            raise
