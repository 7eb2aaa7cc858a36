"""`panic-gateway` with a store that SIGKILLs the process right after committing a new alert.

Test-only: `python -m tests.gateway.crashing_gateway` with the usual PANIC_*
settings. It shows that a crash between the commit and everything after it
(publishing to dispatch, acking the device and the broker) loses nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Sequence
from datetime import datetime

from gateway import main
from gateway.storage.outbox import OutboxItem
from gateway.storage.store import Acceptance, Candidate, Store
from gateway.storage.window import Plan


def kill_gateway(why: str) -> None:
    """Log why (the test looks for it) and SIGKILL this process: no cleanup, as a power cut."""
    logging.getLogger("gateway").critical("test wrapper: %s, killing the gateway", why)
    logging.shutdown()
    os.kill(os.getpid(), signal.SIGKILL)


class CrashAfterCommit(Store):
    def accept_and_stage(self, candidates: Sequence[Candidate], now: datetime,
                         plan: Plan) -> tuple[list[Acceptance], list[OutboxItem]]:
        judged = super().accept_and_stage(candidates, now, plan)
        if any(a.verdict == "new" and a.alert is not None for a in judged[0]):
            kill_gateway("alert committed")
        return judged


if __name__ == "__main__":
    main.Store = CrashAfterCommit  # type: ignore[misc]
    sys.exit(main.main())
