"""A real, independent DC-09 receiver for tests and bench: pysiaalarm in its own process.

    python -m tests.gateway.dc09.pysia_receiver --port 0 --protocol tcp \
        --account 123456 --account 654321:0123456789ABCDEF

`--account ACCT[:KEY]` (KEY as pysiaalarm takes it: 16, 24 or 32 characters,
used as the AES key bytes). Prints `READY <port>` once listening, then one
JSON line per event pysiaalarm accepted (and ACKed), unless `--quiet`. Kill it to take the
receiver down.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading

from pysiaalarm import CommunicationsProtocol, SIAAccount, SIAClient, SIAEvent


def _account(text: str) -> SIAAccount:
    account, _, key = text.partition(":")
    return SIAAccount(account, key or None)


def _report(event: SIAEvent) -> None:
    line = {
        "message_type": getattr(event.message_type, "value", event.message_type),
        "encrypted": event.encrypted,
        "sequence": event.sequence,
        "receiver": event.receiver,
        "line": event.line,
        "account": event.account,
        "qualifier": event.event_qualifier,
        "event_type": event.event_type,
        "partition": event.partition,
        "ri": event.ri,
        "code": event.code,
        "x_data": event.x_data,
        "timestamp": event.timestamp.isoformat() if event.timestamp and not isinstance(event.timestamp, str) else None,
    }
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def _ignore(event: SIAEvent) -> None:
    pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--protocol", choices=["tcp", "udp"], default="tcp")
    parser.add_argument("--account", action="append", type=_account, required=True)
    parser.add_argument("--quiet", action="store_true", help="do not print events (bench)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    protocol = CommunicationsProtocol.TCP if args.protocol == "tcp" else CommunicationsProtocol.UDP
    client = SIAClient("127.0.0.1", args.port, args.account, _ignore if args.quiet else _report, protocol=protocol)
    client.start()
    port = client.sia_server.server_address[1]
    sys.stdout.write(f"READY {port}\n")
    sys.stdout.flush()
    threading.Event().wait()


if __name__ == "__main__":
    main()
