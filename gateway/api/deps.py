"""What routes depend on: the parts create_app put on app.state, and the caller's role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from gateway.api.auth import require
from gateway.metrics import Metrics
from gateway.protocol import DispatchAck
from gateway.registry import Registry
from gateway.storage.store import Store


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


def get_acknowledge(request: Request) -> Callable[[DispatchAck], object]:
    acknowledge: Callable[[DispatchAck], object] = request.app.state.acknowledge
    return acknowledge


def get_broker_connected(request: Request) -> Callable[[], bool] | None:
    broker_connected: Callable[[], bool] | None = request.app.state.broker_connected
    return broker_connected


StoreDep = Annotated[Store, Depends(get_store)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
AcknowledgeDep = Annotated[Callable[[DispatchAck], object], Depends(get_acknowledge)]
BrokerConnectedDep = Annotated[Callable[[], bool] | None, Depends(get_broker_connected)]

# The caller's role; admin passes every check.
AnyRole = Annotated[str, Depends(require())]
Technician = Annotated[str, Depends(require("technician"))]
Operator = Annotated[str, Depends(require("operator"))]
TechnicianOrOperator = Annotated[str, Depends(require("technician", "operator"))]
Admin = Annotated[str, Depends(require("admin"))]
