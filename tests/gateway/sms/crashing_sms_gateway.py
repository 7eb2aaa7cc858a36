"""`panic-gateway` that SIGKILLs itself right after storing an SMS and before judging it.

Test-only: `python -m tests.gateway.sms.crashing_sms_gateway` with the usual
PANIC_* settings. Shows that an SMS read from the SIM is neither lost nor
judged twice when the gateway dies between reading it and committing it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from datetime import datetime

from gateway import main
from gateway.storage.sms import Kept, SmsStore


class CrashAfterStoring(SmsStore):
    def keep(self, pdu: str, now: datetime) -> Kept:
        kept = super().keep(pdu, now)
        logging.getLogger("gateway").critical("test wrapper: SMS %d stored, killing the gateway", kept.id)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)
        return kept


if __name__ == "__main__":
    main.SmsStore = CrashAfterStoring  # type: ignore[misc]
    sys.exit(main.main())
