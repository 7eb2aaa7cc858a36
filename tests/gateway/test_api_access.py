"""Item 10 of the audit: failed API tokens are throttled, and the API's schema is not public."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.api.throttle import FailureThrottle
from tests.conftest import BrokerUnderTest
from tests.gateway.api_harness import Api, auth, make_api

LIMIT, WINDOW_S = 5, 60.0


@pytest.fixture
def api(tmp_path: Path, broker: BrokerUnderTest) -> Api:
    return make_api(tmp_path, broker, api_token_failures=LIMIT, api_token_failure_window_s=WINDOW_S)


def from_address(api: Api, host: str) -> TestClient:
    return TestClient(api.client.app, client=(host, 40000))


def test_guessing_tokens_ends_in_429(api: Api) -> None:
    answers = [api.client.get("/metrics", headers=auth(f"guess-{n}")) for n in range(LIMIT + 1)]
    assert [a.status_code for a in answers] == [401] * LIMIT + [429]
    assert 0 < int(answers[-1].headers["Retry-After"]) <= WINDOW_S


def test_repeated_unknown_tokens_get_429_with_retry_after(api: Api) -> None:
    clock = [0.0]
    api.client.app.state.throttle = FailureThrottle(LIMIT, WINDOW_S, clock=lambda: clock[0])  # type: ignore[attr-defined]
    guesser, colleague = from_address(api, "10.0.0.66"), from_address(api, "10.0.0.7")
    for guess in range(LIMIT):
        assert guesser.get("/alerts", headers=auth(f"guess-{guess}")).status_code == 401
    clock[0] = 10.0
    throttled = guesser.get("/alerts", headers=auth("guess-x"))
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "50"
    # even the right token: otherwise the answer would tell the guesser it guessed right
    assert guesser.get("/alerts", headers=auth("ops-token")).status_code == 429
    # another address is not affected
    assert colleague.get("/alerts", headers=auth("ops-token")).status_code == 200
    clock[0] = WINDOW_S  # the window is over
    assert guesser.get("/alerts", headers=auth("ops-token")).status_code == 200


def test_successful_calls_and_missing_tokens_do_not_count(api: Api) -> None:
    for _ in range(3 * LIMIT):
        assert api.client.get("/alerts", headers=auth("ops-token")).status_code == 200
        assert api.client.get("/alerts").status_code == 401  # no token: not a guess
    for guess in range(LIMIT - 1):
        assert api.client.get("/alerts", headers=auth(f"guess-{guess}")).status_code == 401
    assert api.client.get("/alerts", headers=auth("ops-token")).status_code == 200


def test_the_throttle_forgets_and_stays_bounded() -> None:
    clock = [0.0]
    throttle = FailureThrottle(LIMIT, WINDOW_S, max_clients=100, clock=lambda: clock[0])
    for n in range(1000):
        throttle.failed(f"10.1.{n // 256}.{n % 256}")
    assert len(throttle) == 100
    assert throttle.retry_after("10.1.3.231") is None  # one failure: far below the limit
    clock[0] = WINDOW_S + 1
    throttle.failed("10.9.9.9")  # a new window drops every expired one
    assert len(throttle) == 1


def test_the_schema_needs_a_token_and_no_docs_page_is_served(api: Api) -> None:
    assert api.client.get("/openapi.json").status_code == 401
    schema = api.client.get("/openapi.json", headers=auth("ops-token"))
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/devices/{device_id}/rotate", "/devices/{device_id}"} <= set(paths)
    assert "429" in paths["/alerts"]["get"]["responses"]
    assert api.client.get("/docs").status_code == 404
    assert api.client.get("/redoc").status_code == 404


def test_a_technician_lists_the_alerts_of_one_device_only(api: Api) -> None:
    """panic-provision test-alert confirms the unit in hand's alert; the alert list as a whole stays the operators'."""
    assert api.client.get("/alerts", headers=auth("tech-token")).status_code == 403
    one = api.client.get("/alerts", params={"device_id": "pb-0123456789ab"}, headers=auth("tech-token"))
    assert one.status_code == 200 and one.json() == []
    assert api.client.get("/alerts", headers=auth("ops-token")).status_code == 200
