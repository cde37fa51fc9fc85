"""A rule names its door or says ``"all_doors": true``; one that says neither is refused (422 ``rule_door``):
a client that forgot ``door_id`` once granted every door. The log row of a grant names the rule that granted it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def ids(client: TestClient, admin_headers: dict[str, str]) -> tuple[int, int]:
    person = client.post("/v1/people", json={"external_id": "rule-doors-1", "display_name": "R"}, headers=admin_headers)
    door = client.post("/v1/doors", json={"name": "rule-doors-door", "timezone": "UTC"}, headers=admin_headers)
    return int(person.json()["id"]), int(door.json()["id"])


@pytest.mark.parametrize(
    "where",
    [
        {},
        {"door_id": None},
        {"all_doors": False},
        {"door_id": None, "all_doors": False},
        {"all_doors": True, "door_id": "D"},
    ],
    ids=["left-out", "null", "false", "null-false", "both"],
)
def test_a_rule_naming_no_door_or_both_is_refused(
    admin: TestClient, ids: tuple[int, int], where: dict[str, object]
) -> None:
    person, door = ids
    before = admin.get("/v1/rules", params={"limit": 1}).json()["total"]
    body = {"person_id": person} | {k: door if v == "D" else v for k, v in where.items()}
    response = admin.post("/v1/rules", json=body)
    assert (response.status_code, response.json()["code"]) == (422, "rule_door"), response.text
    assert admin.get("/v1/rules", params={"limit": 1}).json()["total"] == before


def test_every_door_is_said_explicitly(admin: TestClient, ids: tuple[int, int]) -> None:
    person, door = ids
    everywhere = admin.post("/v1/rules", json={"person_id": person, "all_doors": True})
    assert everywhere.status_code == 201, everywhere.text
    assert (everywhere.json()["door_id"], everywhere.json()["all_doors"]) == (None, True)
    one = admin.post("/v1/rules", json={"person_id": person, "door_id": door})
    assert (one.json()["door_id"], one.json()["all_doors"]) == (door, False)


def test_the_log_names_the_rule_that_granted(admin: TestClient, att_pgm: bytes) -> None:
    face = att_pgm  # enrolled by no other test of this session's database
    person = admin.post("/v1/people", json={"external_id": "rule-log-1", "display_name": "L"}).json()["id"]
    enrolled = admin.post(f"/v1/people/{person}/faces", files=[("images", ("f.pgm", face, "image/x-portable-graymap"))])
    assert enrolled.status_code == 201, enrolled.text
    door = admin.post("/v1/doors", json={"name": "rule-log-door", "timezone": "UTC"}).json()["id"]
    rule = admin.post("/v1/rules", json={"person_id": person, "door_id": door}).json()["id"]
    frames = [("frames", ("f.pgm", face, "image/x-portable-graymap"))]
    decision = admin.post("/v1/access/check", data={"door_id": str(door)}, files=frames).json()
    entry = admin.get("/v1/access/log", params={"door_id": door}).json()["items"][0]
    assert decision["decision"] == "granted", decision
    assert entry["rule_id"] == rule and decision["rule_id"] == rule
    empty_door = admin.post("/v1/doors", json={"name": "rule-log-empty", "timezone": "UTC"}).json()["id"]
    denied = admin.post("/v1/access/check", data={"door_id": str(empty_door)}, files=frames).json()
    assert denied["decision"] == "denied" and denied["rule_id"] is None
