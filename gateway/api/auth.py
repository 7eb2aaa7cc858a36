"""Bearer-token authentication with roles; every route but /health needs one.

Unknown tokens are counted per client address (gateway/api/throttle.py):
too many and the address is answered 429 with Retry-After for a while.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.api.throttle import FailureThrottle

_bearer = HTTPBearer(auto_error=False)


def _role_of(token: str, tokens: dict[str, str]) -> str | None:
    found = None
    for known, role in tokens.items():  # compare every token in constant time
        if hmac.compare_digest(known.encode(), token.encode()):
            found = role
    return found


def require(*roles: str) -> Callable[..., str]:
    """Dependency: the caller's role, which must be one of `roles` (admin always passes;
    no roles: any valid token)."""

    def check(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> str:
        throttle: FailureThrottle = request.app.state.throttle
        client = request.client.host if request.client else "-"
        wait = throttle.retry_after(client)
        if wait is not None:
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                                f"too many unknown tokens from this address; retry in {wait} s",
                                headers={"Retry-After": str(wait)})
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token",
                                headers={"WWW-Authenticate": "Bearer"})
        role = _role_of(credentials.credentials, request.app.state.settings.api_tokens)
        if role is None:
            throttle.failed(client)
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown token",
                                headers={"WWW-Authenticate": "Bearer"})
        if roles and role != "admin" and role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the role {' or '.join(roles)}")
        return role

    return check
