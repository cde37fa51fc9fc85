"""Ids and counts are strict integers: ``DELETE /v1/people/1.0`` deleted person 1 and ``door_id=1_0`` meant door 10
(Python's and pydantic's lax parsing). Digits 0-9 only, in paths, queries and forms; JSON integers in bodies."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

LAX = ["1.0", "1_0", "+1", " 1", "1e0", "\uff11", "0x1"]


@pytest.fixture(scope="module")
def person_and_door(client: TestClient, admin_headers: dict[str, str]) -> tuple[int, int]:
    person = client.post("/v1/people", json={"external_id": "strict-1", "display_name": "S"}, headers=admin_headers)
    door = client.post("/v1/doors", json={"name": "strict-door", "timezone": "UTC"}, headers=admin_headers)
    assert person.status_code == door.status_code == 201
    return int(person.json()["id"]), int(door.json()["id"])


def _lax(number: int, form: str) -> str:
    return form.replace("1", str(number), 1) if form != "\uff11" else chr(0xFF10 + number) if number < 10 else form


@pytest.mark.parametrize("form", LAX)
def test_paths_refuse_lax_numbers_and_change_nothing(
    admin: TestClient, person_and_door: tuple[int, int], form: str
) -> None:
    person, door = person_and_door
    for method, path in [
        ("delete", f"/v1/people/{_lax(person, form)}"),
        ("get", f"/v1/doors/{_lax(door, form)}"),
        ("delete", f"/v1/doors/{_lax(door, form)}"),
    ]:
        response = admin.request(method, path)
        assert (response.status_code, response.json()["code"]) == (422, "request_invalid"), (path, response.text)
    assert admin.get(f"/v1/people/{person}").status_code == 200
    assert admin.get(f"/v1/doors/{door}").status_code == 200


@pytest.mark.parametrize("form", ["1_0", "1.0", "+1"])
def test_queries_and_forms_refuse_lax_numbers(admin: TestClient, form: str, lfw_jpeg: bytes) -> None:
    for path, params in [
        ("/v1/access/log", {"door_id": form}),
        ("/v1/people", {"limit": form}),
        ("/v1/rules", {"person_id": form}),
    ]:
        response = admin.get(path, params=params)
        assert (response.status_code, response.json()["code"]) == (422, "request_invalid"), (path, response.text)
    check = admin.post(
        "/v1/access/check", data={"door_id": form}, files=[("frames", ("f.jpg", lfw_jpeg, "image/jpeg"))]
    )
    assert (check.status_code, check.json()["code"]) == (422, "request_invalid"), check.text


@pytest.mark.parametrize("value", ["1_0", "1", 1.0])
def test_json_bodies_take_json_integers_only(
    admin: TestClient, person_and_door: tuple[int, int], value: object
) -> None:
    _, door = person_and_door
    response = admin.post("/v1/rules", json={"person_id": value, "door_id": door})
    assert (response.status_code, response.json()["code"]) == (422, "request_invalid"), response.text
    response = admin.post("/v1/keys", json={"name": "t", "role": "terminal", "door_ids": [value]})
    assert (response.status_code, response.json()["code"]) == (422, "request_invalid"), response.text


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "100000"},  # a page is bounded (LOG_PAGE_MAX); the CLI's export pages itself
        {"offset": "-1"},
        {"decision": "maybe"},
        {"reason": "DROP TABLE"},
        {"reason": "x" * 65},
        {"since": "yesterday"},
        {"person_id": "0"},
    ],
)
def test_the_access_log_refuses_bad_filters_with_a_stable_code(admin: TestClient, params: dict[str, str]) -> None:
    """The log's filters are one LogQuery model now (route, console and CLI): bad values are 422 request_invalid."""
    response = admin.get("/v1/access/log", params=params)
    assert (response.status_code, response.json()["code"]) == (422, "request_invalid"), (params, response.text)
