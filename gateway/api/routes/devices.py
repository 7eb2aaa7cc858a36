"""Buttons: register (or complete a registration), read, rotate credentials, revoke."""

from __future__ import annotations

import hashlib
import hmac
import logging

from fastapi import APIRouter, Response

from gateway.api import schemas
from gateway.api.deps import Admin, RegistryDep, StoreDep, Technician, TechnicianOrOperator
from gateway.api.responses import errors
from gateway.enrich import rfc3339
from gateway.registry import IssuedDevice, key_fingerprint
from gateway.storage.models import Device

router = APIRouter(prefix="/devices", tags=["devices"])
log = logging.getLogger(__name__)


def _device_out(device: Device, sim_number: str | None) -> schemas.DeviceOut:
    return schemas.DeviceOut(
        device_id=device.id, owner_id=device.owner_id, premises_id=device.premises_id, status=device.status,
        firmware=device.firmware, online=device.online, sim_number=sim_number,
        key_fingerprint=key_fingerprint(device.key_hex),
        previous_key_until=rfc3339(device.previous_key_until) if device.previous_key_until else None,
    )


def _issued_out(issued: IssuedDevice, sim_number: str | None) -> schemas.DeviceIssued:
    return schemas.DeviceIssued(**_device_out(issued.device, sim_number).model_dump(), device_key=issued.device_key_hex,
                                mqtt_username=issued.mqtt_username, mqtt_password=issued.mqtt_password)


@router.post("", status_code=201, response_model=schemas.DeviceIssued,
             responses={200: {"model": schemas.DeviceIssued,
                              "description": "a retried registration of a device never heard from: "
                                             "new credentials, the earlier ones are void"},
                        **errors(400, 409, 503)})
def register_device(body: schemas.DeviceIn, registry: RegistryDep, response: Response,
                    _role: Technician) -> schemas.DeviceIssued:
    issued = registry.register_device(body.device_id, body.owner_id, body.premises_id, body.sim_number)
    if not issued.created:
        response.status_code = 200
    return _issued_out(issued, body.sim_number)


@router.get("/{device_id}", response_model=schemas.DeviceOut, responses=errors(404))
def get_device(device_id: str, store: StoreDep, _role: TechnicianOrOperator) -> schemas.DeviceOut:
    return _device_out(store.get_device(device_id), store.registry.sim_number(device_id))


@router.patch("/{device_id}", response_model=schemas.DeviceOut, responses=errors(400, 404))
def change_device(device_id: str, body: schemas.DeviceChange, store: StoreDep,
                  _role: Technician) -> schemas.DeviceOut:
    """Set (or clear, with null) the button's SIM number."""
    return _device_out(store.registry.set_sim_number(device_id, body.sim_number), body.sim_number)


@router.post("/{device_id}/rotate", response_model=schemas.DeviceIssued, responses=errors(404, 409, 503))
def rotate_device(device_id: str, registry: RegistryDep, _role: Technician) -> schemas.DeviceIssued:
    return _issued_out(registry.rotate_device(device_id), registry.store.sim_number(device_id))


@router.post("/{device_id}/console-rekey", response_model=schemas.DeviceRekeyed, responses=errors(404, 409, 503))
def console_rekey(device_id: str, body: schemas.ConsoleRekeyIn, registry: RegistryDep,
                  _role: Technician) -> schemas.DeviceRekeyed:
    """New credentials for a registered unit, written over its serial console (`panic-provision rekey`), with
    the proof its `set_secrets` wants. Retried after a cut (the unit never stored the key it was issued), it
    issues again and proves with the key the unit still holds: the same command completes the re-key."""
    issued, proof = registry.console_rekey(device_id, body.nonce, body.key_fingerprint)
    return schemas.DeviceRekeyed(**_issued_out(issued, registry.store.sim_number(device_id)).model_dump(), auth=proof)


@router.delete("/{device_id}/previous-key", response_model=schemas.DeviceOut, responses=errors(404, 409))
def end_grace(device_id: str, registry: RegistryDep, _role: Technician) -> schemas.DeviceOut:
    """The key before the last rotation stops verifying now, instead of at `previous_key_until`: for when the
    re-keyed unit has delivered everything it signed with it (its outbox is empty)."""
    return _device_out(registry.end_grace(device_id), registry.store.sim_number(device_id))


@router.delete("/{device_id}", response_model=schemas.DeviceOut, responses=errors(404, 503))
def revoke_device(device_id: str, registry: RegistryDep, _role: Admin) -> schemas.DeviceOut:
    return _device_out(registry.revoke_device(device_id), registry.store.sim_number(device_id))



@router.post("/{device_id}/console-proof", response_model=schemas.ConsoleProofOut, responses=errors(404, 409))
def console_proof(device_id: str, body: schemas.ConsoleProofIn, registry: RegistryDep,
                  _role: Technician) -> schemas.ConsoleProofOut:
    """Answer a registered unit's console challenge with its current key, so a technician can change its
    broker or credentials without ever holding the key (protocol/console.md). Only for a console op:
    the message starts with "console\n", which no MQTT topic is, so it can sign nothing else."""
    device = registry.store.check_active(device_id)
    message = f"console\n{device_id} {body.nonce} {body.op}".encode()
    log.info("console proof for device %s op %s", device_id, body.op)
    return schemas.ConsoleProofOut(auth=hmac.new(bytes.fromhex(device.key_hex), message, hashlib.sha256).hexdigest())
