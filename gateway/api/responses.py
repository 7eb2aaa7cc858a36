"""The error answers each route documents in the OpenAPI schema (domain errors map to their status by
gateway/storage/common.py HTTP_STATUS)."""

from __future__ import annotations

from typing import Any

from gateway.api.schemas import ErrorOut

_ERROR_TEXT = {
    400: "does not fit the registry",
    401: "missing or unknown bearer token",
    403: "the token's role may not do this",
    404: "no such record",
    409: "conflicts with the registry",
    429: "too many unknown tokens from this address; see Retry-After",
    503: "the database, the broker or its account service is not available",
}


def errors(*codes: int, auth: bool = True) -> dict[int | str, dict[str, Any]]:
    """The error answers of a route (every route but /health needs a token)."""
    wanted = (401, 403, 429, *codes) if auth else codes
    return {code: {"model": ErrorOut, "description": _ERROR_TEXT[code]} for code in wanted}
