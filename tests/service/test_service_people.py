"""People over HTTP: create, list, update, delete; enrolment's per-image verdicts and refusals; inputs that
reached the database as driver errors once (NUL bytes, instants without a UTC equivalent) are 422s."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient


def _person(admin: TestClient, external_id: str, **extra: object) -> int:
    response = admin.post("/v1/people", json={"external_id": external_id, "display_name": "P", **extra})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def test_crud(admin: TestClient) -> None:
    person = _person(admin, "crud-1", valid_from="2026-01-01T00:00:00+01:00")
    shown = admin.get(f"/v1/people/{person}").json()
    assert shown["valid_from"].startswith("2025-12-31T23:00") and shown["templates"] == 0
    assert admin.patch(f"/v1/people/{person}", json={"status": "suspended"}).json()["status"] == "suspended"
    cleared = admin.patch(f"/v1/people/{person}", json={"valid_from": None}).json()
    assert cleared["valid_from"] is None and cleared["status"] == "suspended"
    page = admin.get("/v1/people", params={"search": "crud-", "status": "suspended"}).json()
    assert [p["id"] for p in page["items"]] == [person] and page["total"] == 1
    assert admin.delete(f"/v1/people/{person}").status_code == 204
    assert admin.get(f"/v1/people/{person}").json()["code"] == "person_not_found"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"external_id": "dup-1", "display_name": "again"}, 409, "external_id_taken"),
        ({"external_id": "bad id", "display_name": "x"}, 422, "request_invalid"),
        ({"external_id": "nul-1", "display_name": "a\u0000b"}, 422, "request_invalid"),
        (
            {"external_id": "old-1", "display_name": "x", "valid_from": "0001-01-01T00:00:00+05:00"},
            422,
            "request_invalid",
        ),
        ({"external_id": "naive-1", "display_name": "x", "valid_from": "2026-01-01T00:00:00"}, 422, "request_invalid"),
        (
            {
                "external_id": "range-1",
                "display_name": "x",
                "valid_from": "2026-02-01T00:00:00Z",
                "valid_until": "2026-01-01T00:00:00Z",
            },
            422,
            "validity_invalid",
        ),
    ],
)
def test_refusals_change_nothing(admin: TestClient, body: dict[str, object], status: int, code: str) -> None:
    if code == "external_id_taken":
        _person(admin, "dup-1")
    before = admin.get("/v1/people").json()["total"]
    response = admin.post("/v1/people", json=body)
    assert (response.status_code, response.json()["code"]) == (status, code)
    assert admin.get("/v1/people").json()["total"] == before


def test_search_with_a_control_character_is_422(admin: TestClient) -> None:
    assert admin.get("/v1/people", params={"search": "a\u0000"}).status_code == 422


def test_enrolment_verdicts_and_duplicate_identity(admin: TestClient, fixture_face_paths: list[Path]) -> None:
    face = fixture_face_paths[3].read_bytes()
    first = _person(admin, "enrol-1")
    response = admin.post(
        f"/v1/people/{first}/faces",
        files=[("images", ("face.jpg", face, "image/jpeg")), ("images", ("junk.jpg", b"not an image", "image/jpeg"))],
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["enrolled"], body["rejected"]) == (1, 1)
    assert body["images"][0]["template_id"] is not None and body["images"][1]["reason"] == "image_not_an_image"
    assert admin.get(f"/v1/people/{first}").json()["templates"] == 1

    # The same face for someone else: a duplicate identity, unless an admin forces it.
    second = _person(admin, "enrol-2")
    files = [("images", ("face.jpg", face, "image/jpeg"))]
    refused = admin.post(f"/v1/people/{second}/faces", files=files)
    assert refused.status_code == 409 and refused.json()["code"] == "duplicate_identity"
    assert admin.get(f"/v1/people/{second}").json()["templates"] == 0
    assert admin.post(f"/v1/people/{second}/faces?force=true", files=files).status_code == 201

    # Nothing usable: 422 with the reason of each image, nothing stored.
    third = _person(admin, "enrol-3")
    blank = admin.post(f"/v1/people/{third}/faces", files=[("images", ("x.jpg", b"", "image/jpeg"))])
    assert blank.status_code == 422 and blank.json()["code"] == "no_usable_face"
    assert blank.json()["errors"][0]["type"] == "image_empty"
    assert admin.get(f"/v1/people/{third}").json()["templates"] == 0

    # A template can be deleted on its own.
    template = admin.get(f"/v1/people/{first}/faces").json()[0]["id"]
    assert admin.delete(f"/v1/people/{first}/faces/{template}").status_code == 204
    assert admin.get(f"/v1/people/{first}/faces").json() == []
    assert admin.delete(f"/v1/people/{first}/faces/{template}").json()["code"] == "template_not_found"


def test_enrolling_an_unknown_person_is_404(admin: TestClient, fixture_face_paths: list[Path]) -> None:
    files = [("images", ("face.jpg", fixture_face_paths[0].read_bytes(), "image/jpeg"))]
    response = admin.post("/v1/people/2147483647/faces", files=files)
    assert (response.status_code, response.json()["code"]) == (404, "person_not_found")
