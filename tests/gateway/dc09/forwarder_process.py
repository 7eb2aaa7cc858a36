"""A forwarder in a process of its own, to be killed with SIGKILL like a crashing gateway.

    python -m tests.gateway.dc09.forwarder_process QUEUE_FILE RECEIVERS_JSON

Reads `<n> <type>` lines on stdin, submits `alert:<DEVICE>:<n>`, and prints
`QUEUED <n>` once `submit` has returned (the event is then committed).
"""

from __future__ import annotations

import sys
from pathlib import Path

from gateway.dc09 import Dc09Event, Dc09Forwarder, contact_id_for, load_receivers

DEVICE = "pb-3c71bf4a9e10"


def main() -> None:
    forwarder = Dc09Forwarder(load_receivers(sys.argv[2]), Path(sys.argv[1]))
    forwarder.start()
    for line in sys.stdin:
        n, alert_type = line.split()
        forwarder.submit(Dc09Event(f"alert:{DEVICE}:{n}", DEVICE, contact_id_for(alert_type)))
        sys.stdout.write(f"QUEUED {n}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
