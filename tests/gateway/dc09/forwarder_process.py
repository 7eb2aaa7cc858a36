"""A forwarder in a process of its own, to be killed with SIGKILL like a crashing gateway.

    python -m tests.gateway.dc09.forwarder_process DATABASE_URL RECEIVERS_JSON

Reads `<n> <type>` lines on stdin, submits `alert:<DEVICE>:<n>`, and prints
`QUEUED <n>` once `submit` has returned (the event is then committed).
"""

from __future__ import annotations

import sys

from sqlalchemy import create_engine

from gateway.dc09 import Dc09Event, Dc09Forwarder, contact_id_for, load_receivers
from gateway.dc09.queue import Dc09Queue
from gateway.storage.db import session_factory

DEVICE = "pb-3c71bf4a9e10"


def main() -> None:
    queue = Dc09Queue(session_factory(create_engine(sys.argv[1])), "panic-gateway-1", lease_s=30.0)
    forwarder = Dc09Forwarder(load_receivers(sys.argv[2]), queue)
    forwarder.start()
    for line in sys.stdin:
        n, alert_type = line.split()
        forwarder.submit(Dc09Event(f"alert:{DEVICE}:{n}", DEVICE, contact_id_for(alert_type)))
        sys.stdout.write(f"QUEUED {n}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
