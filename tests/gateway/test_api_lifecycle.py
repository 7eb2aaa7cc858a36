"""The operator's side of an alert's life over HTTP: POST /alerts/{id}/ack, GET /alerts/{id} with its
timeline, /metrics with the response-time histograms, emergency contacts with a language.

The contract the operator console relies on (docs/operations.md, "Lifecycle").
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BrokerUnderTest
from tests.gateway.api_harness import Api, auth, make_api

OPS = auth("ops-token")


@pytest.fixture
def api(tmp_path: Path, broker: BrokerUnderTest) -> Api:
    return make_api(tmp_path, broker)


def pressed(api: Api) -> str:
    owner = api.create_owner()
    device_id = "pb-" + secrets.token_hex(6)
    issued = api.client.post("/devices", headers=auth("tech-token"), json={
        "device_id": device_id, "owner_id": owner["id"], "premises_id": owner["premises"][0]["id"]}).json()
    assert api.send_alert(device_id, issued["device_key"], 1).verdict == "new"
    return f"{device_id}:1"


def ack(api: Api, alert_id: str, state: str, **more: Any) -> Any:
    return api.client.post(f"/alerts/{alert_id}/ack", headers=OPS, json={"state": state, "by": "desk 2", **more})


def test_the_whole_life_of_an_alert_is_its_timeline(api: Api) -> None:
    alert_id = pressed(api)
    fresh = api.client.get(f"/alerts/{alert_id}", headers=OPS).json()
    assert (fresh["state"], fresh["rev"], fresh["escalation_level"]) == ("new", 1, 0)
    assert [(s["state"], s["rev"]) for s in fresh["timeline"]] == [("new", 1)]
    for rev, state in enumerate(("acknowledged", "dispatched", "on_scene", "resolved"), start=1):
        answer = ack(api, alert_id, state, note=f"step {rev}", rev=rev)
        assert answer.status_code == 200, answer.text
        assert (answer.json()["state"], answer.json()["rev"]) == (state, rev + 1)
    alert = api.client.get(f"/alerts/{alert_id}", headers=OPS).json()
    assert [(s["state"], s["by"], s["note"], s["rev"], s["escalation"]) for s in alert["timeline"]] == [
        ("new", None, None, 1, None), ("acknowledged", "desk 2", "step 1", 2, None),
        ("dispatched", "desk 2", "step 2", 3, None), ("on_scene", "desk 2", "step 3", 4, None),
        ("resolved", "desk 2", "step 4", 5, None)]
    times = [s["at"] for s in alert["timeline"]]
    assert times == sorted(times) and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t) for t in times)
    # the press-to-answer times are histograms on /metrics
    metrics = api.client.get("/metrics", headers=OPS).text
    for name in ("alert_press_to_acknowledged_seconds", "alert_press_to_on_scene_seconds"):
        assert f"# TYPE panic_{name} histogram" in metrics
        assert f'panic_{name}_bucket{{le="+Inf"}} 1' in metrics and f"panic_{name}_count 1" in metrics


@pytest.mark.parametrize(("path", "then"), [
    (["resolved"], "acknowledged"), (["false_alarm"], "resolved"), (["on_scene"], "dispatched"),
    (["cancelled"], "cancelled_again"), (["acknowledged", "resolved"], "on_scene"),
])
def test_a_move_that_is_not_allowed_is_409_naming_from_and_to(api: Api, path: list[str], then: str) -> None:
    alert_id = pressed(api)
    for state in path:
        assert ack(api, alert_id, state).status_code == 200
    if then == "cancelled_again":  # the same state again is a retry, not an error
        assert ack(api, alert_id, "cancelled").status_code == 200
        then = "acknowledged"
    answer = ack(api, alert_id, then)
    assert answer.status_code == 409
    assert answer.json()["detail"] == f"alert {alert_id} cannot go from {path[-1]} to {then}"
    assert api.store.get_alert(alert_id).state == path[-1], "nothing changed"


def test_new_is_never_a_target_and_unknown_states_are_422(api: Api) -> None:
    alert_id = pressed(api)
    for state in ("new", "cancel_requested", "received", "lost"):
        assert ack(api, alert_id, state).status_code == 422
    assert api.store.get_alert(alert_id).rev == 1


def test_a_stale_revision_is_409_and_changes_nothing(api: Api) -> None:
    alert_id = pressed(api)
    assert ack(api, alert_id, "acknowledged", rev=1).status_code == 200
    answer = ack(api, alert_id, "dispatched", rev=1)  # another desk moved it meanwhile
    assert answer.status_code == 409
    assert answer.json()["detail"] == (f"stale revision: alert {alert_id} is at rev 2 (acknowledged), not rev 1; "
                                       "read it again")
    assert api.store.get_alert(alert_id).state == "acknowledged"
    assert ack(api, alert_id, "dispatched", rev=2).status_code == 200


def test_an_unknown_alert_is_404(api: Api) -> None:
    answer = ack(api, "pb-000000000000:1", "acknowledged")
    assert answer.status_code == 404 and answer.json()["detail"] == "no alert pb-000000000000:1"


def test_the_false_alarm_flag_of_v1_still_closes_as_a_false_alarm(api: Api) -> None:
    alert_id = pressed(api)
    assert ack(api, alert_id, "acknowledged", false_alarm=True).status_code == 422, "only an end can be false"
    done = ack(api, alert_id, "cancelled", false_alarm=True).json()
    assert (done["state"], done["false_alarm"]) == ("false_alarm", True)


def test_the_cancel_requested_state_hands_the_decision_to_police(api: Api) -> None:
    alert_id = pressed(api)
    assert ack(api, alert_id, "dispatched").status_code == 200
    acks = api.acknowledgements
    acks.transition(alert_id, "cancel_requested", "pb-button")  # what the button's cancel gesture does
    assert ack(api, alert_id, "acknowledged").status_code == 200, "police may pick any state but new"
    acks.transition(alert_id, "cancel_requested", "pb-button")
    assert ack(api, alert_id, "cancelled", note="owner confirmed by phone").status_code == 200
    states = [s["state"] for s in api.client.get(f"/alerts/{alert_id}", headers=OPS).json()["timeline"]]
    assert states == ["new", "dispatched", "cancel_requested", "acknowledged", "cancel_requested", "cancelled"]


def test_emergency_contacts_carry_a_language(api: Api) -> None:
    owner = api.create_owner()
    assert owner["emergency_contacts"][0]["lang"] == "id"  # the default
    contacts = {"emergency_contacts": [{"name": "Ann", "phone": "+61 400 000 000", "lang": "en"},
                                       {"name": "Budi", "phone": "+62 812 7000 1234"}]}
    changed = api.client.put(f"/owners/{owner['id']}/emergency_contacts", json=contacts, headers=auth("tech-token"))
    assert changed.status_code == 200, changed.text
    assert [(c["name"], c["lang"]) for c in changed.json()["emergency_contacts"]] == [("Ann", "en"), ("Budi", "id")]
    bad = {"emergency_contacts": [{"name": "X", "phone": "+62 1", "lang": "fr"}]}
    assert api.client.put(f"/owners/{owner['id']}/emergency_contacts", json=bad,
                          headers=auth("tech-token")).status_code == 422
    assert api.client.get(f"/owners/{owner['id']}", headers=OPS).json()["emergency_contacts"] == \
        changed.json()["emergency_contacts"]
    assert api.client.put("/owners/nobody/emergency_contacts", json=contacts,
                          headers=auth("tech-token")).status_code == 404
