"""Bearer-token authentication with roles; every route but /health needs one."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

_bearer = HTTPBearer(auto_error=False)


def _role_of(token: str, tokens: dict[str, str]) -> str | None:
    found = None
    for known, role in tokens.items():  # compare every token in constant time
        if hmac.compare_digest(known.encode(), token.encode()):
            found = role
    return found


def require(*roles: str) -> Callable[..., str]:
    """Dependency: the caller's role, which must be one of `roles` (admin always passes)."""

    def check(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> str:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token",
                                headers={"WWW-Authenticate": "Bearer"})
        role = _role_of(credentials.credentials, request.app.state.settings.api_tokens)
        if role is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown token",
                                headers={"WWW-Authenticate": "Bearer"})
        if role != "admin" and role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the role {' or '.join(roles)}")
        return role

    return check
