"""`panic-gateway` that SIGKILLs itself at one point of a remote command's way out.

Test-only: `python -m tests.gateway.crashing_command_gateway` with the usual
PANIC_* settings and PANIC_TEST_CRASH_AT:

- `committed`: right after the command and its outbox row are committed,
  before the publisher has them (and before the API has answered);
- `published`: after the broker PUBACKed the command, before the outbox
  row is deleted (so it is published again after the restart).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from gateway import main
from gateway.storage.commands import CommandView
from gateway.storage.outbox import OutboxItem
from gateway.storage.store import Store

CRASH_AT = os.environ.get("PANIC_TEST_CRASH_AT", "")


def _die(why: str) -> None:
    logging.getLogger("gateway").critical("test wrapper: %s, killing the gateway", why)
    logging.shutdown()
    os.kill(os.getpid(), signal.SIGKILL)


class CrashingCommands(Store):
    def create_command(self, device_id: str, cmd: str, args: dict[str, Any], requested_by: str, now: datetime,
                       ttl_s: int) -> tuple[CommandView, list[OutboxItem]]:
        created = super().create_command(device_id, cmd, args, requested_by, now, ttl_s)
        if CRASH_AT == "committed":
            _die("command committed")
        return created

    def confirm(self, items: Sequence[OutboxItem], now: datetime,
                receipt_backoff: Callable[[OutboxItem], float] | None) -> None:
        if CRASH_AT == "published" and any(item.kind == "device_cmd" for item in items):
            _die("command published")
        super().confirm(items, now, receipt_backoff)


if __name__ == "__main__":
    main.Store = CrashingCommands  # type: ignore[misc]
    sys.exit(main.main())
