"""The account check at registration: a receiver must be able to tell two buttons apart.

With DC-09 receivers configured, registering a button whose account (on any
receiver) is already another active button's, or the gateway's own link-test
account, is refused. The way out is an explicit account for the new button in
that receiver's `account_overrides` (docs/dc09.md, "Accounts").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gateway.dc09.account import AccountScheme


def account_clash(schemes: Sequence[AccountScheme], device_id: str, registered: Iterable[str]) -> str | None:
    """Why `device_id` cannot get an account of its own on some receiver, or None when it can."""
    others = [other for other in registered if other != device_id]
    for index, scheme in enumerate(schemes):
        for account, owners in scheme.collisions([*others, device_id]).items():
            if device_id in owners:
                taken_by = ", ".join(owner for owner in owners if owner != device_id)
                return (f"DC-09 account {account} on receiver {index} is already {taken_by}'s: pin an account for "
                        f"{device_id} in that receiver's account_overrides (PANIC_DC09_RECEIVERS)")
    return None
