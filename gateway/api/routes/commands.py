"""Remote commands to a button (technicians): send one, follow it (gateway/commands.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from gateway.api import schemas
from gateway.api.deps import StoreDep, Technician
from gateway.api.responses import errors
from gateway.commands import CommandIn, Commands
from gateway.enrich import rfc3339
from gateway.storage.commands import CommandView
from gateway.storage.common import utcnow

router = APIRouter(prefix="/devices/{device_id}/commands", tags=["commands"])


def get_commands(request: Request) -> Commands:
    commands: Commands = request.app.state.commands
    return commands


CommandsDep = Annotated[Commands, Depends(get_commands)]


def _command_out(c: CommandView) -> schemas.CommandOut:
    return schemas.CommandOut(
        id=c.id, device_id=c.device_id, cseq=c.cseq, cmd=c.cmd, args=c.args, status=c.status,  # type: ignore[arg-type]
        reason=c.reason, result=c.result, requested_by=c.requested_by, created_at=rfc3339(c.created_at),
        expires_at=rfc3339(c.expires_at), sent_at=rfc3339(c.sent_at) if c.sent_at else None,
        answered_at=rfc3339(c.answered_at) if c.answered_at else None,
    )


@router.post("", status_code=201, response_model=schemas.CommandOut, responses=errors(404, 409, 503))
def send_command(device_id: str, body: CommandIn, commands: CommandsDep, role: Technician) -> schemas.CommandOut:
    """Store the command, sign it with the device's current key and publish it (QoS 1, transactional outbox).
    404: no such device; 409: the device is revoked; 422: an unknown command or args it does not take."""
    return _command_out(commands.send(device_id, body, role))


@router.get("", response_model=list[schemas.CommandOut], responses=errors(404))
def list_commands(device_id: str, store: StoreDep, _role: Technician,
                  limit: int = Query(100, ge=1, le=1000)) -> list[schemas.CommandOut]:
    return [_command_out(c) for c in store.commands(device_id, utcnow(), limit)]


@router.get("/{command_id}", response_model=schemas.CommandOut, responses=errors(404))
def get_command(device_id: str, command_id: int, store: StoreDep, _role: Technician) -> schemas.CommandOut:
    return _command_out(store.command(device_id, command_id, utcnow()))
