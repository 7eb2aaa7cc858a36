"""Receiver configuration: `PANIC_DC09_RECEIVERS`, a JSON list of objects.

    [{"name": "arc-1", "host": "192.0.2.10", "port": 12128, "transport": "tcp",
      "receiver": "1", "line": "1", "account_prefix": "", "account_digits": 6,
      "key": "<32, 48 or 64 hex digits>", "link_test_s": 60}]

Errors name the receiver and the field, never the key.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from gateway.dc09.account import AccountError, AccountScheme
from gateway.dc09.crypto import Dc09Key, KeyFormatError
from gateway.dc09.message import MessageError, Route


class ConfigError(ValueError):
    pass


class ReceiverConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    transport: Literal["tcp", "udp"] = "tcp"
    receiver: str | None = "1"  # R field, hex; null leaves it out
    line: str = "1"  # L field, hex
    account_prefix: str = ""
    account_digits: int = 6
    account_overrides: dict[str, str] = Field(default_factory=dict)
    key: SecretStr | None = None  # AES key, hex
    send_location: bool = True  # [X..][Y..]; pysiaalarm 3.2 accepts one extended-data block only
    ack_timeout_s: float = Field(default=10.0, gt=0)
    retry_initial_s: float = Field(default=1.0, gt=0)
    retry_max_s: float = Field(default=60.0, gt=0)
    link_test_s: float = Field(default=60.0, ge=0)  # 0: no link test

    @field_validator("key")
    @classmethod
    def _key_is_hex(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None:
            Dc09Key.from_hex(key.get_secret_value())  # raises KeyFormatError, which names no key
        return key

    @model_validator(mode="after")
    def _fields_fit(self) -> ReceiverConfig:
        self.route()
        self.accounts()
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError("retry_max_s is below retry_initial_s")
        return self

    def route(self) -> Route:
        return Route(self.receiver, self.line)

    def accounts(self) -> AccountScheme:
        return AccountScheme(self.account_prefix, self.account_digits, dict(self.account_overrides))

    def aes_key(self) -> Dc09Key | None:
        return Dc09Key.from_hex(self.key.get_secret_value()) if self.key is not None else None


def load_receivers(text: str) -> list[ReceiverConfig]:
    """Parse `PANIC_DC09_RECEIVERS`. Raises ConfigError with a message that never contains a key."""
    try:
        raw = json.loads(text) if text.strip() else []
    except json.JSONDecodeError as error:
        raise ConfigError(f"PANIC_DC09_RECEIVERS is not JSON: {error.msg} at {error.pos}") from None
    if not isinstance(raw, list):
        raise ConfigError("PANIC_DC09_RECEIVERS must be a JSON list of receivers")
    receivers = []
    for index, item in enumerate(raw):
        try:
            receivers.append(ReceiverConfig.model_validate(item))
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in problem['loc']) or 'receiver'}: {problem['msg']}"
                for problem in error.errors(include_input=False, include_url=False)
            )
            raise ConfigError(f"PANIC_DC09_RECEIVERS[{index}]: {problems}") from None
        except (KeyFormatError, AccountError, MessageError) as error:
            raise ConfigError(f"PANIC_DC09_RECEIVERS[{index}]: {error}") from None
    names = [receiver.name for receiver in receivers]
    if len(set(names)) != len(names):
        raise ConfigError("PANIC_DC09_RECEIVERS: receiver names must be unique")
    return receivers
