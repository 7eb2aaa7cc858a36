"""Owners and their premises (technicians register them; operators read them)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter

from gateway.api import schemas
from gateway.api.deps import StoreDep, Technician, TechnicianOrOperator
from gateway.api.responses import errors
from gateway.enrich import e7_to_degrees
from gateway.storage.models import Owner, Premises

router = APIRouter(prefix="/owners", tags=["owners"])


def _e7(value: Decimal | None) -> int | None:
    return None if value is None else int(value.scaleb(7))


def _premises_row(place: schemas.PremisesIn) -> dict[str, Any]:
    return {"kind": place.kind, "address": place.address, "lat_e7": _e7(place.lat), "lon_e7": _e7(place.lon)}


def _premises_out(place: Premises) -> schemas.PremisesOut:
    return schemas.PremisesOut(id=place.id, kind=place.kind, address=place.address,
                               lat=e7_to_degrees(place.lat_e7), lon=e7_to_degrees(place.lon_e7))


def _owner_out(owner: Owner, places: list[Premises]) -> schemas.OwnerOut:
    return schemas.OwnerOut(
        id=owner.id, name=owner.name, phone=owner.phone,
        emergency_contacts=[schemas.Contact(**c) for c in owner.emergency_contacts],
        premises=[_premises_out(p) for p in places],
    )


@router.post("", status_code=201, response_model=schemas.OwnerOut, responses=errors())
def create_owner(body: schemas.OwnerIn, store: StoreDep, _role: Technician) -> schemas.OwnerOut:
    owner, places = store.create_owner(body.name, body.phone, [c.model_dump() for c in body.emergency_contacts],
                                       [_premises_row(p) for p in body.premises])
    return _owner_out(owner, places)


@router.get("/{owner_id}", response_model=schemas.OwnerOut, responses=errors(404))
def get_owner(owner_id: str, store: StoreDep, _role: TechnicianOrOperator) -> schemas.OwnerOut:
    return _owner_out(*store.get_owner(owner_id))


@router.post("/{owner_id}/premises", status_code=201, response_model=schemas.PremisesOut, responses=errors(404))
def add_premises(owner_id: str, body: schemas.PremisesIn, store: StoreDep, _role: Technician) -> schemas.PremisesOut:
    return _premises_out(store.add_premises(owner_id, _premises_row(body)))


@router.put("/{owner_id}/emergency_contacts", response_model=schemas.OwnerOut, responses=errors(404))
def set_emergency_contacts(owner_id: str, body: schemas.ContactsIn, store: StoreDep,
                           _role: Technician) -> schemas.OwnerOut:
    """Replace the owner's emergency contacts (who is texted about their alerts, in each one's `lang`)."""
    store.set_emergency_contacts(owner_id, [c.model_dump() for c in body.emergency_contacts])
    return _owner_out(*store.get_owner(owner_id))
