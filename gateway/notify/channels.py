"""The notifier interface and its implementations: a webhook (HTTP POST of JSON) and SMS.

A notifier sends one message to one recipient or raises `NotifyError`;
retrying with back-off is the worker's (gateway/notify/worker.py), from the
table, so it survives a restart.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Protocol


class NotifyError(Exception):
    """Sending failed; `final`: retrying cannot help (the message is given up at once)."""

    def __init__(self, message: str, *, final: bool = False) -> None:
        super().__init__(message)
        self.final = final


class Notifier(Protocol):
    channel: str

    def send(self, recipient: str, text: str) -> None:
        """Send `text` to `recipient` (a phone number, a webhook's key); raise NotifyError on failure."""


class TextSender(Protocol):
    """What sends a text message to a person: the gateway's GSM modem (gateway/sms/modem.py, a concatenated
    SMS when the text needs more than one, UCS-2 when it is not GSM-7) or an SMS provider.
    ValueError: the text cannot be sent at all (too long, not a phone number)."""

    def send_text(self, number: str, text: str) -> None: ...


class SmsNotifier:
    channel = "sms"

    def __init__(self, sender: TextSender) -> None:
        self.sender = sender

    def send(self, recipient: str, text: str) -> None:
        try:
            self.sender.send_text(recipient, text)
        except ValueError as exc:  # the same text to the same number would fail the same way: given up
            raise NotifyError(f"SMS to {recipient} cannot be sent: {exc}", final=True) from exc
        except Exception as exc:  # a modem's or provider's own error: retried
            raise NotifyError(f"SMS to {recipient} failed: {type(exc).__name__}: {exc}") from exc


def webhook_key(url: str) -> str:
    """How a webhook is named in the notification log: a URL may carry a token, so never the URL itself."""
    return "webhook:" + hashlib.sha256(url.encode()).hexdigest()[:16]


class WebhookNotifier:
    """POSTs the message (a JSON document) to each configured URL; a 2xx answer is delivery."""

    channel = "webhook"

    def __init__(self, urls: Sequence[str], timeout_s: float = 10.0) -> None:
        self.urls = {webhook_key(url): url for url in urls}
        self.timeout_s = timeout_s

    @property
    def recipients(self) -> list[str]:
        return list(self.urls)

    def send(self, recipient: str, text: str) -> None:
        url = self.urls.get(recipient)
        if url is None:
            raise NotifyError(f"{recipient} is no longer configured (PANIC_NOTIFY_WEBHOOKS)", final=True)
        request = urllib.request.Request(url, data=text.encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                answer.read()
        except urllib.error.HTTPError as exc:
            # The URL is not named: it may carry a token.
            raise NotifyError(f"{recipient} answered HTTP {exc.code}", final=400 <= exc.code < 500 and exc.code not in
                              (408, 425, 429)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise NotifyError(f"{recipient} unreachable: {type(reason).__name__}") from None
