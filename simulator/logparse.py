"""Parse the firmware's console log lines (format: firmware/panic/log.py).

    <L> <uptime_ms> <module>: <message>[ <key>=<value> ...]
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

LINE = re.compile(r"^(?P<level>[DIWE]) (?P<up>\d+) (?P<module>[a-z_]+): (?P<message>.*)$")
_PAIR = re.compile(r'(?P<key>[a-z_]+)=(?P<value>"(?:[^"\\]|\\.)*"|\S+)')


@dataclass(frozen=True)
class LogLine:
    level: str
    up_ms: int
    module: str
    message: str

    @property
    def fields(self) -> dict[str, str]:
        """The key=value pairs; quoted values are unquoted."""
        out: dict[str, str] = {}
        for m in _PAIR.finditer(self.message):
            value = m.group("value")
            out[m.group("key")] = str(json.loads(value)) if value.startswith('"') else value
        return out


def parse(line: str) -> LogLine | None:
    """A LogLine, or None for anything else on the console (tracebacks, console protocol)."""
    m = LINE.match(line)
    if m is None:
        return None
    return LogLine(m.group("level"), int(m.group("up")), m.group("module"), m.group("message"))
