"""Account numbers: our device id to the receiver's short account field.

A device id is `pb-` + the 12 hex digits of the ESP32's MAC (48 bits). A
DC-09 account is 3 to 16 hex digits, but the automation software behind many
receivers keeps 4 to 10, often decimal only. So the account is

    <prefix><MAC as an integer, modulo 10^digits, zero-padded to `digits`>

with `prefix` (0 to 10 hex digits, one per receiver: the range the centre
gave us) and `digits` (3 to 16 minus the prefix length; default 6).

Collision risk: 48 bits do not fit in 6 decimal digits, so two MACs that are
equal modulo 10^digits share an account. Espressif numbers chips one after
the other, 4 MACs apart, so consecutive buttons never collide within
10^digits / 4 chips (250,000 with 6 digits); buttons from different batches or
vendors collide at random, with probability about n²/(2·10^digits) for n
buttons (about 5 % for 300 buttons at 6 digits, 0.05 % at 8).
Account <prefix>000…0 is reserved for the gateway itself (link tests); one
button in 10^digits maps onto it and needs an override.

What the registry must do: check `collisions()` (or `account_for` against
the accounts already in use) when it registers a button, and refuse the
registration or pin an explicit account for it in `overrides`; a receiver
that receives two buttons under one account cannot tell them apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

DEVICE_ID = re.compile(r"pb-([0-9a-f]{12})")
PREFIX = re.compile(r"[0-9A-F]{0,10}")
OVERRIDE = re.compile(r"[0-9A-F]{3,16}")


class AccountError(ValueError):
    pass


@dataclass(frozen=True)
class AccountScheme:
    prefix: str = ""
    digits: int = 6
    overrides: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not PREFIX.fullmatch(self.prefix):
            raise AccountError(f"account prefix must be 0 to 10 upper-case hex digits, not {self.prefix!r}")
        if not 3 <= len(self.prefix) + self.digits <= 16 or self.digits < 1:
            raise AccountError(f"prefix {self.prefix!r} plus {self.digits} digits is not 3 to 16 characters")
        for device, account in self.overrides.items():
            if not DEVICE_ID.fullmatch(device) or not OVERRIDE.fullmatch(account):
                raise AccountError(f"bad account override {device!r}: {account!r}")
        if self.gateway_account in self.overrides.values():
            raise AccountError(f"account {self.gateway_account} is reserved for the gateway")

    @property
    def gateway_account(self) -> str:
        return self.prefix + "0" * self.digits

    def derived(self, device_id: str) -> str:
        match = DEVICE_ID.fullmatch(device_id)
        if match is None:
            raise AccountError(f"not a device id: {device_id!r}")
        return f"{self.prefix}{int(match[1], 16) % 10**self.digits:0{self.digits}d}"

    def account_for(self, device_id: str) -> str:
        if device_id in self.overrides:
            return self.overrides[device_id]
        account = self.derived(device_id)
        if account == self.gateway_account:
            raise AccountError(f"{device_id} maps to the gateway's reserved account {account}: pin an override")
        return account

    def collisions(self, device_ids: Iterable[str]) -> dict[str, list[str]]:
        """Accounts claimed by more than one device (or by a device and the gateway)."""
        claims: dict[str, list[str]] = {self.gateway_account: ["(gateway)"]}
        for device in device_ids:
            account = self.overrides.get(device) or self.derived(device)
            claims.setdefault(account, []).append(device)
        return {account: owners for account, owners in claims.items() if len(owners) > 1}
