"""Doors, groups, members and rules over HTTP: each endpoint's success, who may call it (401 without a key,
403 for terminal and auditor keys), each refusal's status and code, and that a refused request changed nothing.

The database is shared by the whole test session, so every name here is unique (``_unique``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from service.db.models import KeyRole, Person
from service.repositories.doors import create_door
from service.repositories.keys import create_key
from service.repositories.rules import rules_for

BIG = 2**31  # one past the largest SQL INTEGER id


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _sessions(client: TestClient) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = client.app.state.runtime.sessionmaker  # type: ignore[attr-defined]
    return factory


def _person(client: TestClient) -> int:
    """A person stored straight through SQL: the people API is not what these tests are about."""
    with _sessions(client).begin() as session:
        person = Person(external_id=_unique("P"), display_name="Rights Tester")
        session.add(person)
        session.flush()
        return person.id


def _create(admin: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = admin.post(path, json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def _door(admin: TestClient, timezone: str = "UTC") -> dict[str, Any]:
    return _create(admin, "/v1/doors", {"name": _unique("door"), "timezone": timezone})


def _group(admin: TestClient) -> dict[str, Any]:
    return _create(admin, "/v1/groups", {"name": _unique("group")})


def _problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def _totals(admin: TestClient) -> list[int]:
    """How many doors, groups and rules there are: a refused request must leave these as they were."""
    return [admin.get(path, params={"limit": 1}).json()["total"] for path in ("/v1/doors", "/v1/groups", "/v1/rules")]


@pytest.fixture
def role_headers(client: TestClient) -> Iterator[dict[str, dict[str, str]]]:
    """Headers of a fresh terminal key (bound to a fresh door) and a fresh auditor key."""
    with _sessions(client).begin() as session:
        door = create_door(session, name=_unique("key-door"), timezone="UTC")
        _, terminal = create_key(session, name="rights terminal", role=KeyRole.TERMINAL, door_ids=[door.id])
        _, auditor = create_key(session, name="rights auditor", role=KeyRole.AUDITOR)
    yield {"terminal": {"Authorization": f"Bearer {terminal}"}, "auditor": {"Authorization": f"Bearer {auditor}"}}


# Every rights endpoint, with a body that would succeed for an admin if the ids existed.
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("post", "/v1/doors", {"name": "never-made", "timezone": "UTC"}),
    ("get", "/v1/doors", None),
    ("get", "/v1/doors/1", None),
    ("patch", "/v1/doors/1", {"name": "never-renamed"}),
    ("delete", "/v1/doors/1", None),
    ("post", "/v1/groups", {"name": "never-made"}),
    ("get", "/v1/groups", None),
    ("get", "/v1/groups/1", None),
    ("patch", "/v1/groups/1", {"name": "never-renamed"}),
    ("delete", "/v1/groups/1", None),
    ("get", "/v1/groups/1/members", None),
    ("put", "/v1/groups/1/members/1", None),
    ("delete", "/v1/groups/1/members/1", None),
    ("post", "/v1/rules", {"person_id": 1}),
    ("get", "/v1/rules", None),
    ("get", "/v1/rules/1", None),
    ("delete", "/v1/rules/1", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_no_key_is_401(client: TestClient, method: str, path: str, body: dict[str, Any] | None) -> None:
    _problem(client.request(method, path, json=body), 401, "auth_required")


@pytest.mark.parametrize("role", ["terminal", "auditor"])
@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_terminal_and_auditor_keys_are_403_and_change_nothing(
    admin: TestClient,
    role_headers: dict[str, dict[str, str]],
    role: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    before = _totals(admin)
    _problem(admin.request(method, path, json=body, headers=role_headers[role]), 403, "forbidden")
    assert _totals(admin) == before


# --- doors ---------------------------------------------------------------------------------------------------


def test_door_lifecycle(admin: TestClient) -> None:
    name = _unique("door")
    door = _create(admin, "/v1/doors", {"name": f"  {name}  ", "timezone": "Europe/Paris"})
    assert (door["name"], door["timezone"]) == (name, "Europe/Paris")  # surrounding spaces are stripped
    assert door["id"] > 0 and door["created_at"].endswith("Z")
    assert admin.get(f"/v1/doors/{door['id']}").json() == door

    page = admin.get("/v1/doors", params={"limit": 500}).json()
    assert door in page["items"] and (page["limit"], page["offset"]) == (500, 0)
    last = admin.get("/v1/doors", params={"limit": 1, "offset": page["total"] - 1}).json()
    assert last["items"] == [page["items"][-1]] and last["total"] == page["total"]

    renamed = admin.patch(f"/v1/doors/{door['id']}", json={"name": name + "-b"})
    assert renamed.status_code == 200 and renamed.json() == door | {"name": name + "-b"}
    moved = admin.patch(f"/v1/doors/{door['id']}", json={"timezone": "Asia/Tokyo"}).json()
    assert moved == door | {"name": name + "-b", "timezone": "Asia/Tokyo"}
    assert admin.patch(f"/v1/doors/{door['id']}", json={}).json() == moved
    assert admin.get(f"/v1/doors/{door['id']}").json() == moved

    deleted = admin.delete(f"/v1/doors/{door['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    _problem(admin.get(f"/v1/doors/{door['id']}"), 404, "door_not_found")
    _problem(admin.delete(f"/v1/doors/{door['id']}"), 404, "door_not_found")
    _problem(admin.patch(f"/v1/doors/{door['id']}", json={"name": "x"}), 404, "door_not_found")


def test_door_refusals_change_nothing(admin: TestClient) -> None:
    door, other = _door(admin), _door(admin)
    before = _totals(admin)
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("post", "/v1/doors", {"name": door["name"], "timezone": "UTC"}, 409, "name_taken"),
        ("post", "/v1/doors", {"name": _unique("d"), "timezone": "Mars/Base"}, 422, "timezone_invalid"),
        ("post", "/v1/doors", {"name": _unique("d"), "timezone": "Europe"}, 422, "timezone_invalid"),
        ("post", "/v1/doors", {"name": "bad\u0000name", "timezone": "UTC"}, 422, "name_invalid"),
        ("post", "/v1/doors", {"name": "   ", "timezone": "UTC"}, 422, "request_invalid"),
        ("post", "/v1/doors", {"name": "x" * 101, "timezone": "UTC"}, 422, "request_invalid"),
        ("post", "/v1/doors", {"name": _unique("d")}, 422, "request_invalid"),
        ("post", "/v1/doors", {"name": _unique("d"), "timezone": "UTC", "extra": 1}, 422, "request_invalid"),
        ("patch", f"/v1/doors/{other['id']}", {"name": door["name"]}, 409, "name_taken"),
        ("patch", f"/v1/doors/{other['id']}", {"name": "fine", "timezone": "Nowhere/Land"}, 422, "timezone_invalid"),
        ("patch", f"/v1/doors/{other['id']}", {"name": None}, 422, "request_invalid"),
        ("patch", f"/v1/doors/{other['id']}", {"timezone": None}, 422, "request_invalid"),
        ("patch", f"/v1/doors/{BIG}", {"name": "x"}, 422, "request_invalid"),
    ]
    for method, path, body, status, code in cases:
        _problem(admin.request(method, path, json=body), status, code)
    assert _totals(admin) == before
    assert admin.get(f"/v1/doors/{other['id']}").json() == other


@pytest.mark.parametrize("door_id", ["0", "-1", str(BIG), "1" * 30, "abc"])
def test_bad_path_ids_are_422(admin: TestClient, door_id: str) -> None:
    for path in (f"/v1/doors/{door_id}", f"/v1/groups/{door_id}", f"/v1/rules/{door_id}"):
        _problem(admin.get(path), 422, "request_invalid")
    _problem(admin.put(f"/v1/groups/1/members/{door_id}"), 422, "request_invalid")


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"offset": -1}, {"offset": BIG}])
def test_bad_pages_are_422(admin: TestClient, params: dict[str, int]) -> None:
    for path in ("/v1/doors", "/v1/groups", "/v1/rules", "/v1/groups/1/members"):
        _problem(admin.get(path, params=params), 422, "request_invalid")


# --- groups and members --------------------------------------------------------------------------------------


def test_group_lifecycle_and_members(admin: TestClient) -> None:
    group = _group(admin)
    alice, bob = _person(admin), _person(admin)
    assert admin.get(f"/v1/groups/{group['id']}").json() == group
    assert group in admin.get("/v1/groups", params={"limit": 500}).json()["items"]

    for _ in range(2):  # PUT is idempotent
        added = admin.put(f"/v1/groups/{group['id']}/members/{alice}")
        assert added.status_code == 200, added.text
        assert added.json()["person_id"] == alice and added.json()["status"] == "active"
    admin.put(f"/v1/groups/{group['id']}/members/{bob}")
    members = admin.get(f"/v1/groups/{group['id']}/members").json()
    assert [m["person_id"] for m in members["items"]] == [alice, bob] and members["total"] == 2
    second = admin.get(f"/v1/groups/{group['id']}/members", params={"offset": 1}).json()
    assert [m["person_id"] for m in second["items"]] == [bob]

    removed = admin.delete(f"/v1/groups/{group['id']}/members/{alice}")
    assert removed.status_code == 204
    _problem(admin.delete(f"/v1/groups/{group['id']}/members/{alice}"), 404, "member_not_found")
    assert [m["person_id"] for m in admin.get(f"/v1/groups/{group['id']}/members").json()["items"]] == [bob]

    new_name = _unique("renamed")
    renamed = admin.patch(f"/v1/groups/{group['id']}", json={"name": new_name})
    assert renamed.status_code == 200 and renamed.json() == group | {"name": new_name}

    assert admin.delete(f"/v1/groups/{group['id']}").status_code == 204
    _problem(admin.get(f"/v1/groups/{group['id']}"), 404, "group_not_found")
    _problem(admin.get(f"/v1/groups/{group['id']}/members"), 404, "group_not_found")


def test_group_refusals_change_nothing(admin: TestClient) -> None:
    group, other = _group(admin), _group(admin)
    person = _person(admin)
    before = _totals(admin)
    cases: list[tuple[str, str, dict[str, Any] | None, int, str]] = [
        ("post", "/v1/groups", {"name": group["name"]}, 409, "name_taken"),
        ("post", "/v1/groups", {"name": ""}, 422, "request_invalid"),
        ("post", "/v1/groups", {"name": "tab\there"}, 422, "name_invalid"),
        ("patch", f"/v1/groups/{other['id']}", {"name": group["name"]}, 409, "name_taken"),
        ("patch", f"/v1/groups/{other['id']}", {}, 422, "request_invalid"),
        ("patch", f"/v1/groups/{BIG - 1}", {"name": "x"}, 404, "group_not_found"),
        ("delete", f"/v1/groups/{BIG - 1}", None, 404, "group_not_found"),
        ("put", f"/v1/groups/{BIG - 1}/members/{person}", None, 404, "group_not_found"),
        ("put", f"/v1/groups/{group['id']}/members/{BIG - 1}", None, 404, "person_not_found"),
        ("delete", f"/v1/groups/{group['id']}/members/{BIG - 1}", None, 404, "person_not_found"),
        ("delete", f"/v1/groups/{group['id']}/members/{person}", None, 404, "member_not_found"),
    ]
    for method, path, body, status, code in cases:
        _problem(admin.request(method, path, json=body), status, code)
    assert _totals(admin) == before
    assert admin.get(f"/v1/groups/{other['id']}").json() == other
    assert admin.get(f"/v1/groups/{group['id']}/members").json()["total"] == 0


# --- rules ---------------------------------------------------------------------------------------------------

OFFICE_HOURS = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "18:00"}


def test_rule_lifecycle(admin: TestClient) -> None:
    door, person = _door(admin, "Europe/Paris"), _person(admin)
    body = {
        "person_id": person,
        "door_id": door["id"],
        "valid_from": "2025-06-01T09:00:00+02:00",
        "valid_until": "2025-07-01T00:00:00Z",
        "windows": [  # read back grouped by time, in week order, whatever order they were sent in
            {"days": ["sun"], "start": "00:00", "end": "24:00"},
            {"days": ["sat", "sat"], "start": "22:00", "end": "06:00"},
            {"days": ["fri", "mon", "tue"], "start": "08:00", "end": "18:00"},
            {"days": ["wed", "thu"], "start": "08:00", "end": "18:00"},
        ],
    }
    rule = _create(admin, "/v1/rules", body)
    assert (rule["person_id"], rule["group_id"], rule["door_id"]) == (person, None, door["id"])
    assert rule["valid_from"] == "2025-06-01T07:00:00Z" and rule["valid_until"] == "2025-07-01T00:00:00Z"
    assert rule["windows"] == [
        OFFICE_HOURS,
        {"days": ["sat"], "start": "22:00", "end": "06:00"},
        {"days": ["sun"], "start": "00:00", "end": "24:00"},
    ]
    assert admin.get(f"/v1/rules/{rule['id']}").json() == rule

    # What the access check will load: the friendly windows became per-weekday minutes, Monday = 0.
    with _sessions(admin)() as session:
        [loaded] = rules_for(session, person_id=person, group_ids=(), door_id=door["id"])
    windows = sorted((w.weekday, w.start_minute, w.end_minute) for w in loaded.windows)
    assert windows == [(day, 480, 1080) for day in range(5)] + [(5, 1320, 360), (6, 0, 1440)]

    assert admin.delete(f"/v1/rules/{rule['id']}").status_code == 204
    _problem(admin.get(f"/v1/rules/{rule['id']}"), 404, "rule_not_found")
    _problem(admin.delete(f"/v1/rules/{rule['id']}"), 404, "rule_not_found")


def test_list_rules_filters(admin: TestClient) -> None:
    door, other_door, group = _door(admin), _door(admin), _group(admin)
    person = _person(admin)
    mine = _create(admin, "/v1/rules", {"person_id": person, "door_id": door["id"]})
    everywhere = _create(admin, "/v1/rules", {"person_id": person, "all_doors": True, "windows": [OFFICE_HOURS]})
    grouped = _create(admin, "/v1/rules", {"group_id": group["id"], "door_id": door["id"]})
    _create(admin, "/v1/rules", {"group_id": group["id"], "door_id": other_door["id"]})

    def ids(**params: int) -> list[int]:
        page = admin.get("/v1/rules", params=params).json()
        return [item["id"] for item in page["items"]]

    assert ids(person_id=person) == [mine["id"], everywhere["id"]]
    assert ids(door_id=door["id"]) == [mine["id"], grouped["id"]]
    assert ids(group_id=group["id"], door_id=door["id"]) == [grouped["id"]]
    assert ids(person_id=person, limit=1, offset=1) == [everywhere["id"]]
    assert admin.get("/v1/rules", params={"person_id": person, "limit": 1}).json()["total"] == 2
    assert ids(person_id=BIG - 1) == []
    _problem(admin.get("/v1/rules", params={"door_id": BIG}), 422, "request_invalid")


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"group_id": "GROUP"}, 422, "rule_subject"),
        ({"person_id": None}, 422, "rule_subject"),
        ({"valid_from": "2025-01-02T00:00:00Z", "valid_until": "2025-01-02T01:00:00+01:00"}, 422, "validity_invalid"),
        ({"valid_from": "2025-01-02T00:00:00Z", "valid_until": "2025-01-01T00:00:00Z"}, 422, "validity_invalid"),
        ({"valid_from": "2025-01-02T00:00:00"}, 422, "request_invalid"),
        ({"valid_until": "2025-01-02"}, 422, "request_invalid"),
        ({"valid_from": "0001-01-01T00:00:00+05:00"}, 422, "request_invalid"),
        ({"valid_until": "9999-12-31T23:59:59-05:00"}, 422, "request_invalid"),
        ({"windows": [{"days": ["monday"], "start": "08:00", "end": "18:00"}]}, 422, "request_invalid"),
        ({"windows": [{"days": [], "start": "08:00", "end": "18:00"}]}, 422, "request_invalid"),
        ({"windows": [{"days": ["mon"], "start": "24:00", "end": "06:00"}]}, 422, "request_invalid"),
        ({"windows": [{"days": ["mon"], "start": "08:00", "end": "25:00"}]}, 422, "request_invalid"),
        ({"windows": [{"days": ["mon"], "start": "8:00", "end": "18:00"}]}, 422, "request_invalid"),
        ({"windows": [{"days": ["mon"], "start": "08:00"}]}, 422, "request_invalid"),
        ({"windows": [OFFICE_HOURS] * 25}, 422, "request_invalid"),
        ({"windows": [OFFICE_HOURS, {"days": ["tue"], "start": "09:30", "end": "09:30"}]}, 422, "window_invalid"),
        ({"door_id": BIG}, 422, "request_invalid"),
        ({"person_id": BIG}, 422, "request_invalid"),
        ({"colour": "red"}, 422, "request_invalid"),
        ({"door_id": BIG - 1}, 404, "door_not_found"),
        ({"person_id": BIG - 1}, 404, "person_not_found"),
        ({"person_id": None, "group_id": BIG - 1}, 404, "group_not_found"),
    ],
)
def test_rule_refusals_change_nothing(admin: TestClient, change: dict[str, Any], status: int, code: str) -> None:
    door, group, person = _door(admin), _group(admin), _person(admin)
    body = {"person_id": person, "door_id": door["id"], "windows": [OFFICE_HOURS]}
    body |= {key: group["id"] if value == "GROUP" else value for key, value in change.items()}
    before = _totals(admin)
    _problem(admin.post("/v1/rules", json=body), status, code)
    assert _totals(admin) == before


def test_deleting_a_door_or_a_group_deletes_their_rules(admin: TestClient) -> None:
    door, group, person = _door(admin), _group(admin), _person(admin)
    admin.put(f"/v1/groups/{group['id']}/members/{person}")
    at_door = _create(admin, "/v1/rules", {"person_id": person, "door_id": door["id"], "windows": [OFFICE_HOURS]})
    for_group = _create(admin, "/v1/rules", {"group_id": group["id"], "all_doors": True})
    kept = _create(admin, "/v1/rules", {"person_id": person, "all_doors": True})

    assert admin.delete(f"/v1/doors/{door['id']}").status_code == 204
    _problem(admin.get(f"/v1/rules/{at_door['id']}"), 404, "rule_not_found")
    assert admin.delete(f"/v1/groups/{group['id']}").status_code == 204
    _problem(admin.get(f"/v1/rules/{for_group['id']}"), 404, "rule_not_found")
    assert [r["id"] for r in admin.get("/v1/rules", params={"person_id": person}).json()["items"]] == [kept["id"]]


# --- documentation -------------------------------------------------------------------------------------------


def test_every_rights_operation_is_documented(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    operations = {
        (method, path): operation
        for path, item in document["paths"].items()
        if path.startswith(("/v1/doors", "/v1/groups", "/v1/rules"))
        for method, operation in item.items()
    }
    assert len(operations) == len(ENDPOINTS)
    with_404 = {key for key in operations if "{" in key[1]} | {("post", "/v1/rules")}
    with_409 = {
        ("post", "/v1/doors"),
        ("patch", "/v1/doors/{door_id}"),
        ("post", "/v1/groups"),
        ("patch", "/v1/groups/{group_id}"),
    }
    assert with_409 <= set(operations)
    for key, operation in operations.items():
        assert operation.get("summary") and operation.get("description"), key
        statuses = set(operation["responses"])
        assert {"401", "403", "422", "429"} <= statuses, key
        assert ("404" in statuses) == (key in with_404), key
        assert ("409" in statuses) == (key in with_409), key
        assert "application/problem+json" in operation["responses"]["401"]["content"], key
        if "requestBody" in operation:
            schema_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            schema = document["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
            assert schema.get("examples"), key
