"""Police stations: import a file, list, read, create or change, remove (admin); read and route (operator).

Bodies are read as text and parsed with exact decimals (never through a
float). A refused import or change answers 400 (409 for removing a parent)
with every problem: {"detail": ..., "problems": [{"where", "reason"}]}.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from gateway.api.deps import Admin, Operator
from gateway.api.responses import errors
from gateway.stations.api_schemas import ImportOut, ProblemOut, RefusedOut, RoutingOut, StationIn, StationOut
from gateway.stations.coords import location_e7
from gateway.stations.coverage import load_json
from gateway.stations.directory import StationDirectory
from gateway.stations.importer import Format, Mode, parse_file
from gateway.stations.model import ImportRefused, Kind, Problem, Station
from gateway.stations.router import DEFAULT_CANDIDATES, MAX_CANDIDATES
from gateway.storage.stations import StationStore

router = APIRouter(prefix="/stations", tags=["stations"])

MAX_BODY_BYTES = 32 * 1024 * 1024  # all of Indonesia's stations with coverage areas fit many times over


def get_station_store(request: Request) -> StationStore:
    return StationStore(request.app.state.store.sessions)


def get_directory(request: Request) -> StationDirectory:
    """The app's directory (the gateway may put its own on app.state.stations), else one made here."""
    directory: StationDirectory | None = getattr(request.app.state, "stations", None)
    if directory is None:
        directory = request.app.state.stations = StationDirectory(get_station_store(request))
    return directory


StationStoreDep = Annotated[StationStore, Depends(get_station_store)]
DirectoryDep = Annotated[StationDirectory, Depends(get_directory)]
_REFUSED: dict[int | str, dict[str, Any]] = {
    400: {"model": RefusedOut, "description": "refused, nothing stored: every problem with where it is"}}


def refused(problems: list[Problem], status: int = 400) -> JSONResponse:
    body = RefusedOut(detail="; ".join(map(str, problems[:10])) or "refused",
                      problems=[ProblemOut(where=p.where, reason=p.reason) for p in problems])
    return JSONResponse(body.model_dump(), status_code=status)


async def _body_text(request: Request) -> str | JSONResponse:
    """The request body as text (UTF-8, a byte-order mark allowed), or the answer refusing it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return refused([Problem("body", f"larger than {MAX_BODY_BYTES} bytes")], 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return refused([Problem("body", f"larger than {MAX_BODY_BYTES} bytes")], 413)
        chunks.append(chunk)
    try:
        return b"".join(chunks).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return refused([Problem("body", f"not UTF-8 text (byte {exc.start})")])


@router.post("/import", response_model=ImportOut,
             responses={**_REFUSED, 413: {"model": RefusedOut, "description": "the file is too large"},
                        **errors(503)},
             openapi_extra={"requestBody": {"required": True, "description": "the file's content",
                                            "content": {"text/csv": {"schema": {"type": "string"}},
                                                        "application/json": {"schema": {"type": "object"}}}}})
async def import_stations(request: Request, store: StationStoreDep, _role: Admin,
                          format: Format = Query("auto", description="csv, geojson (also overpass-turbo's export), "
                                                 "overpass (Overpass API JSON); auto tells them apart"),
                          mode: Mode = Query("merge", description="merge: add and update; replace: afterwards "
                                             "exactly the file's stations exist")) -> ImportOut | JSONResponse:
    text = await _body_text(request)
    if isinstance(text, JSONResponse):
        return text
    try:
        plan = await run_in_threadpool(lambda: store.import_parsed(parse_file(text, format), mode))
    except ImportRefused as exc:
        return refused(exc.problems)
    await run_in_threadpool(get_directory(request).refresh)
    return ImportOut(**plan.summary())


@router.get("", response_model=list[StationOut], responses=errors())
def list_stations(store: StationStoreDep, _role: Operator, kind: Kind | None = None, parent: str | None = None,
                  offset: int = Query(0, ge=0), limit: int = Query(1000, ge=1, le=10_000)) -> list[StationOut]:
    return [StationOut.of(s) for s in store.page(kind=kind, parent=parent, offset=offset, limit=limit)]


@router.get("/route", response_model=RoutingOut, responses={**_REFUSED, **errors()})
def route_location(directory: DirectoryDep, _role: Operator,
                   lat: str = Query(description="decimal degrees"), lon: str = Query(description="decimal degrees"),
                   n: int = Query(DEFAULT_CANDIDATES, ge=0, le=MAX_CANDIDATES, description="candidates after the first")
                   ) -> RoutingOut | JSONResponse:
    """Which station an alert at this location goes to, and the next candidates."""
    try:
        lat_e7, lon_e7 = location_e7(lat, lon)
    except ValueError as exc:
        return refused([Problem("query", str(exc))])
    return RoutingOut.of(directory.route(lat_e7, lon_e7, n))


@router.get("/{station_id}", response_model=StationOut, responses=errors(404))
def get_station(station_id: str, store: StationStoreDep, _role: Operator) -> StationOut:
    return StationOut.of(store.get(station_id))


def _station_in(station_id: str, text: str) -> Station:
    """The body as a checked station; ImportRefused says what is wrong."""
    try:
        return StationIn.model_validate(load_json(text)).station(station_id)
    except ValidationError as exc:
        raise ImportRefused([Problem(".".join(map(str, e["loc"])) or "body", e["msg"]) for e in exc.errors()]) \
            from None
    except ValueError as exc:
        raise ImportRefused([Problem("body", str(exc))]) from None


@router.put("/{station_id}", response_model=StationOut,
            responses={201: {"model": StationOut, "description": "created"}, **_REFUSED, **errors(503)},
            openapi_extra={"requestBody": {"required": True, "content": {
                "application/json": {"schema": StationIn.model_json_schema()}}}})
async def put_station(station_id: str, request: Request, response: Response, store: StationStoreDep,
                      _role: Admin) -> StationOut | JSONResponse:
    text = await _body_text(request)
    if isinstance(text, JSONResponse):
        return text
    try:
        station = _station_in(station_id, text)
        created = await run_in_threadpool(store.put, station)
    except ImportRefused as exc:
        return refused(exc.problems)
    await run_in_threadpool(get_directory(request).refresh)
    response.status_code = 201 if created else 200
    return StationOut.of(station)


@router.delete("/{station_id}", response_model=StationOut,
               responses={409: {"model": RefusedOut, "description": "other stations name it as their parent"},
                          **errors(404, 503)})
def delete_station(station_id: str, request: Request, store: StationStoreDep, _role: Admin
                   ) -> StationOut | JSONResponse:
    try:
        station = store.delete(station_id)
    except ImportRefused as exc:
        return refused(exc.problems, 409)
    get_directory(request).refresh()
    return StationOut.of(station)
