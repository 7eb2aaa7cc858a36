"""The registry's optional `sim_number` (docs/sms.md): set at registration or later, read back, checked."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import BrokerUnderTest
from tests.gateway.api_harness import auth, make_api
from tests.gateway.test_api import create_owner

DEVICE = "pb-a1b2c3d4e5f6"


def test_sim_number_is_registered_changed_cleared_and_checked(tmp_path: Path, broker: BrokerUnderTest) -> None:
    client = make_api(tmp_path, broker).client
    owner = create_owner(client)
    place = owner["premises"][0]["id"]
    tech = auth("tech-token")
    bad = client.post("/devices", headers=tech, json={
        "device_id": DEVICE, "owner_id": owner["id"], "premises_id": place, "sim_number": "0812 000"})
    assert bad.status_code == 422 and "sim_number" in bad.text, "not E.164: refused, nothing registered"
    assert client.get(f"/devices/{DEVICE}", headers=tech).status_code == 404
    issued = client.post("/devices", headers=tech, json={
        "device_id": DEVICE, "owner_id": owner["id"], "premises_id": place, "sim_number": "+6281200000002"})
    assert issued.status_code == 201 and issued.json()["sim_number"] == "+6281200000002"
    assert client.get(f"/devices/{DEVICE}", headers=tech).json()["sim_number"] == "+6281200000002"
    changed = client.patch(f"/devices/{DEVICE}", headers=tech, json={"sim_number": "+6281300000003"})
    assert changed.status_code == 200 and changed.json()["sim_number"] == "+6281300000003"
    assert client.patch(f"/devices/{DEVICE}", headers=tech, json={"sim_number": "+62abc"}).status_code == 422
    assert client.patch(f"/devices/{DEVICE}", headers=tech, json={"status": "x"}).status_code == 422
    assert client.patch(f"/devices/{DEVICE}", headers=auth("ops-token"),
                        json={"sim_number": None}).status_code == 403, "a technician's change"
    assert client.patch("/devices/pb-000000000000", headers=tech, json={"sim_number": None}).status_code == 404
    cleared = client.patch(f"/devices/{DEVICE}", headers=tech, json={"sim_number": None})
    assert cleared.status_code == 200 and cleared.json()["sim_number"] is None
