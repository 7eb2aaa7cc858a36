"""One line of a simulator's stdin console (`panic-sim run`, `panic-sim modem`)."""

from __future__ import annotations

from collections.abc import Callable

# (command, its words) -> whether the command was understood.
Handler = Callable[[str, list[str]], bool]


def command(line: str, handle: Handler, help_text: str, errors: tuple[type[Exception], ...]) -> bool:
    """Run one command line through `handle`; False means quit. Not understood: the help; `errors`: said."""
    words = line.split()
    if not words:
        return True
    if words[0] in ("quit", "exit"):
        return False
    try:
        if not handle(words[0], words[1:]):
            print(f"# {help_text}", flush=True)
    except errors as e:
        print(f"# error: {e}", flush=True)
    return True
