"""`panic-gateway` whose publishing to the dispatch alert topic fails while a flag file exists.

Test-only: `python -m tests.gateway.flaky_link_gateway` with the usual
PANIC_* settings and PANIC_TEST_LINK_DOWN_FLAG naming the file. It stands
for a broker link that fails transiently, while everything else works.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import paho.mqtt.client as mqtt

from gateway import main
from gateway.bridge import Bridge
from gateway.topics import DISPATCH_ALERTS

FLAG = Path(os.environ["PANIC_TEST_LINK_DOWN_FLAG"])


class FlakyLinkBridge(Bridge):
    def _send(self, topic: str, payload: bytes, qos: int) -> mqtt.MQTTMessageInfo:
        if topic == DISPATCH_ALERTS and FLAG.exists():
            raise OSError("test wrapper: the broker link is down")
        return super()._send(topic, payload, qos)


if __name__ == "__main__":
    main.Bridge = FlakyLinkBridge  # type: ignore[misc]
    sys.exit(main.main())
