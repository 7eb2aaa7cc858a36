"""GET /metrics: Prometheus counters (operator)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from gateway.api.deps import MetricsDep, Operator
from gateway.api.responses import errors

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=PlainTextResponse, responses=errors())
def get_metrics(metrics: MetricsDep, _role: Operator) -> str:
    return metrics.render()
