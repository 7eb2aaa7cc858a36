"""firmware/panic/link.py: errno numbers come from the port, not from Linux (issue 7, finding 6)."""

from __future__ import annotations

import ast
import errno

from tests.conftest import FIRMWARE


def test_network_modules_take_errno_numbers_from_the_port() -> None:
    """`ENOTCONN = 107` is Linux's number; newlib (the ESP-IDF's C library) says 128.

    Every socket errno the link and the MQTT client raise or compare must come
    from the port's `errno` module, so neither may bind an errno name to a literal.
    """
    names = set(errno.errorcode.values())
    found = []
    for path in (FIRMWARE / "panic" / "link.py", FIRMWARE / "panic" / "mqtt.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                found += [f"{path.name}:{node.lineno} {t.id}" for t in node.targets
                          if isinstance(t, ast.Name) and t.id in names]
    assert found == []
