"""Bearer-token authentication with roles; every route but /health needs one.

Unknown tokens are counted per client address (gateway/api/throttle.py):
too many and the address is answered 429 with Retry-After for a while.

The operator console (gateway/console/) exchanges a token for a session
cookie instead of keeping it in the page: `session_cookie()` issues it,
`require()` accepts it where no bearer token is sent. The cookie holds an
expiry and an HMAC of it keyed with the token, never the token, so any
gateway instance with the same tokens can check it (nothing is stored) and
removing the token ends its sessions. A session never grants more than the
operator role, whatever the token's role (least privilege in a browser).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gateway.api.throttle import FailureThrottle

_bearer = HTTPBearer(auto_error=False)

SESSION_COOKIE = "panic_session"
SESSION_ROLES = ("operator", "admin")  # whose tokens may open a console session (which is then operator)


def _role_of(token: str, tokens: dict[str, str]) -> str | None:
    found = None
    for known, role in tokens.items():  # compare every token in constant time
        if hmac.compare_digest(known.encode(), token.encode()):
            found = role
    return found


def _session_mac(token: str, expires: int) -> str:
    return hmac.new(token.encode(), f"panic-console-session:{expires}".encode(), hashlib.sha256).hexdigest()


def session_cookie(token: str, lifetime_s: int, now: float | None = None) -> str:
    """The session cookie's value for `token` (already checked), valid `lifetime_s` from `now`."""
    expires = int(now if now is not None else time.time()) + lifetime_s
    return f"{expires}.{_session_mac(token, expires)}"


def _session_role(cookie: str, tokens: dict[str, str], now: float | None = None) -> str | None:
    """"operator" for a valid, unexpired session of an operator's or admin's token, else None."""
    expires_text, _, mac = cookie.partition(".")
    if not expires_text.isdigit() or len(expires_text) > 12 or int(expires_text) <= (now or time.time()):
        return None
    found = None
    for known, role in tokens.items():  # every token, in constant time, as for bearer tokens
        if hmac.compare_digest(_session_mac(known, int(expires_text)).encode(), mac.encode()) and role in SESSION_ROLES:
            found = "operator"
    return found


def authenticate(request: Request, token: str | None, cookie: str | None = None) -> str:
    """The role of a bearer `token` (else of a session `cookie`); 429 while the caller's address is
    throttled, 401 for none or an unknown one (counted against the address)."""
    throttle: FailureThrottle = request.app.state.throttle
    client = request.client.host if request.client else "-"
    wait = throttle.retry_after(client)
    if wait is not None:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"too many unknown tokens from this address; retry in {wait} s",
                            headers={"Retry-After": str(wait)})
    if token is None and not cookie:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    tokens = request.app.state.settings.api_tokens
    role = _role_of(token, tokens) if token is not None else _session_role(cookie or "", tokens)
    if role is None:
        throttle.failed(client)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "unknown token" if token is not None else "session expired or unknown; log in again",
                            headers={"WWW-Authenticate": "Bearer"})
    return role


def require(*roles: str) -> Callable[..., str]:
    """Dependency: the caller's role, which must be one of `roles` (admin always passes;
    no roles: any valid token). A bearer token is used when sent, else the console's session cookie."""

    def check(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> str:
        if credentials is not None and credentials.scheme.lower() != "bearer":
            credentials = None
        role = authenticate(request, credentials.credentials if credentials else None,
                            request.cookies.get(SESSION_COOKIE))
        if roles and role != "admin" and role not in roles:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the role {' or '.join(roles)}")
        return role

    return check
