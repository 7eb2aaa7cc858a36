"""`panic-gateway` that SIGKILLs itself right after storing an SMS and before judging it.

Test-only: `python -m tests.gateway.sms.crashing_sms_gateway` with the usual
PANIC_* settings. Shows that an SMS read from the SIM is neither lost nor
judged twice when the gateway dies between reading it and committing it.
"""

from __future__ import annotations

import sys
from datetime import datetime

from gateway import main
from gateway.storage.sms import Kept, SmsStore
from tests.gateway.crashing_gateway import kill_gateway


class CrashAfterStoring(SmsStore):
    def keep(self, pdu: str, now: datetime) -> Kept:
        kept = super().keep(pdu, now)
        kill_gateway(f"SMS {kept.id} stored")
        return kept


if __name__ == "__main__":
    main.SmsStore = CrashAfterStoring  # type: ignore[misc]
    sys.exit(main.main())
