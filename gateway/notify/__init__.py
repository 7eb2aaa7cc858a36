"""Notifications: people told about an alert besides dispatch, by SMS and by webhook (docs/operations.md).

    channels.py    the notifier interface and its two implementations (webhook, SMS)
    texts.py       the messages, in Indonesian and English
    recipients.py  who is told about which event
    worker.py      the loop: events → one message per recipient → send, retry with back-off (as data)
"""
