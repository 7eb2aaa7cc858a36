"""Parts of the gateway that fail on demand, injected in-process (no test hooks in gateway/)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from sqlalchemy.exc import OperationalError

from gateway.registry import BrokerAccounts

When = Literal["before", "after"]


class FailingAccounts:
    """The broker's account manager, failing its next call like an unreachable broker.

    `before`: the broker never saw the call. `after`: the broker applied it
    but its answer was lost. Either way the caller gets an OSError.
    """

    def __init__(self, inner: BrokerAccounts) -> None:
        self.inner = inner
        self.next_failure: tuple[str, When] | None = None

    def fail_next(self, call: Literal["set", "remove"], when: When) -> None:
        self.next_failure = (call, when)

    def set(self, user: str, password: str) -> None:
        self._call("set", lambda: self.inner.set(user, password))

    def remove(self, user: str) -> None:
        self._call("remove", lambda: self.inner.remove(user))

    def _call(self, name: str, call: Callable[[], None]) -> None:
        failure, self.next_failure = self.next_failure, None
        if failure is None or failure[0] != name:
            self.next_failure = failure
            call()
            return
        if failure[1] == "after":
            call()
        raise ConnectionRefusedError(f"broker account service unreachable ({failure[1]} {name})")


def fail_once(target: object, method: str) -> None:
    """Make `target.method` raise a database error once, as a lost connection at commit would."""
    original = getattr(target, method)

    def failing(*_args: Any, **_kwargs: Any) -> Any:
        setattr(target, method, original)
        raise OperationalError("COMMIT", {}, Exception("database connection lost"))

    setattr(target, method, failing)
