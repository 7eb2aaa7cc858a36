"""The console's routes: the page and its static files (public: no alert data in them), login, and
the data the page reads (operator), live through server-sent events.

The live feed (feed.py) is driven by the database, not by this process: one
poller per process looks at a change mark (`Store.console_mark`, a few
aggregates) every `PANIC_CONSOLE_POLL_S` and hands a fresh snapshot to every
open console when it moved, so a console on any gateway instance sees what
every instance did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from gateway.api.auth import SESSION_COOKIE, SESSION_ROLES, authenticate, session_cookie
from gateway.api.deps import Operator, StoreDep
from gateway.api.responses import errors
from gateway.api.routes.stations import DirectoryDep
from gateway.console.feed import ConsoleFeed
from gateway.console.records import alert_records, offline_records
from gateway.enrich import rfc3339
from gateway.render import AlertRouting
from gateway.settings import Settings
from gateway.stations.alerts import route_alert
from gateway.stations.directory import StationDirectory
from gateway.storage.common import utcnow
from gateway.storage.store import Store

STATIC = Path(__file__).parent / "static"
CLOSED_SHOWN = 20  # closed alerts listed below the open ones
KEEPALIVE_S = 15.0  # an SSE comment this often keeps proxies from closing a quiet feed

router = APIRouter(prefix="/console", tags=["console"])


class LoginIn(BaseModel):
    token: str = Field(min_length=1, max_length=500)


class SessionOut(BaseModel):
    role: str
    expires_in_s: int


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.get("", include_in_schema=False)
def console_root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=307)


def _tile_source(tile_url: str) -> str:
    """The tile server's origin for the page's Content-Security-Policy ("{s}" subdomains as a wildcard)."""
    parts = urlsplit(tile_url.replace("{s}", "*"))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


@router.get("/", include_in_schema=False)
def console_page(request: Request) -> FileResponse:
    """The page. Its policy lets it load only its own files and the tile server's images, and not be
    framed by another site (so no one can lay the action buttons under their own page)."""
    tiles = _tile_source(_settings(request).console_tile_url)
    policy = ("default-src 'self'; script-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; "
              f"img-src 'self' data:{' ' + tiles if tiles else ''}; frame-ancestors 'none'; base-uri 'none'; "
              "form-action 'self'")
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache", "Content-Security-Policy": policy,
                                                         "X-Frame-Options": "DENY"})


@router.post("/session", response_model=SessionOut, responses=errors(403))
def login(body: LoginIn, request: Request, response: Response) -> SessionOut:
    """Exchange an operator's (or admin's) token for a session cookie: HttpOnly, SameSite=Strict."""
    role = authenticate(request, body.token)
    if role not in SESSION_ROLES:
        raise HTTPException(403, "the console needs an operator's or admin's token")
    lifetime = _settings(request).console_session_s
    response.set_cookie(SESSION_COOKIE, session_cookie(body.token, lifetime), max_age=lifetime, path="/",
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return SessionOut(role="operator", expires_in_s=lifetime)


@router.delete("/session", status_code=204)
def logout(response: Response) -> Response:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    response.status_code = 204
    return response


@router.get("/api/config", responses=errors())
def config(request: Request, _role: Operator) -> dict[str, Any]:
    settings = _settings(request)
    return {"tile_url": settings.console_tile_url, "tile_attribution": settings.console_tile_attribution}


def snapshot(store: Store, directory: StationDirectory, settings: Settings) -> dict[str, Any]:
    """Everything the page shows but history: open alerts first (newest at the top), then recent closed
    ones, and the offline devices. Alerts are routed as the publisher routes them."""
    routing = AlertRouting(lambda location: route_alert(directory, location, settings.dispatch_candidates),
                           settings.location_fix_max_age_s)
    return {"at": rfc3339(utcnow()),
            "alerts": alert_records(store, store.console_alert_ids(CLOSED_SHOWN), routing,
                                    directory.router().station),
            "offline": offline_records(store.offline_devices())}


@router.get("/api/snapshot", responses=errors())
def get_snapshot(request: Request, store: StoreDep, directory: DirectoryDep, _role: Operator) -> dict[str, Any]:
    return snapshot(store, directory, _settings(request))


def _feed(request: Request, store: Store, directory: StationDirectory) -> ConsoleFeed:
    """The app's one feed (made by the first console to follow it)."""
    feed: ConsoleFeed | None = getattr(request.app.state, "console_feed", None)
    if feed is None:
        settings = _settings(request)
        feed = request.app.state.console_feed = ConsoleFeed(
            store.console_mark, lambda: snapshot(store, directory, settings), settings.console_poll_s,
            request.app.state.exiting)
    return feed


@router.get("/api/events", responses=errors(), response_class=StreamingResponse)
async def events(request: Request, store: StoreDep, directory: DirectoryDep, _role: Operator) -> StreamingResponse:
    """Server-sent events: `snapshot` (the same as /console/api/snapshot) at once and whenever it changed;
    `unavailable` while the database cannot be read. The feed ends when the server shuts down (the browser
    reconnects, to another instance if there is one)."""
    return StreamingResponse(_feed(request, store, directory).follow(KEEPALIVE_S), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def install(app: FastAPI) -> None:
    """Add the console to the gateway's app: its routes and its static files under /console/static."""
    app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
