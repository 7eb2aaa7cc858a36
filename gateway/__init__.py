"""The gateway: verifies device messages, stores and enriches alerts, bridges them to dispatch."""

__version__ = "0.1.0"
