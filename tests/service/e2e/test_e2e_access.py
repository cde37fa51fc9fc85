"""End to end over HTTP, on SQLite and on a real PostgreSQL server: enrol 20 LFW people (2 images each), give
them rights, and ask the doors about them and about 50 people never enrolled.

Two kinds of checks:
- the rights matrix, with an image each person was enrolled with (the face certainly matches): every decision and
  reason is asserted exactly — status, expiry, group rules, schedules in the door's time zone, doors without rules;
- held-out images (never enrolled) of the 20 and of the 50 strangers: the recogniser's real errors. The test
  prints the false-accept and false-reject counts and asserts that nobody is let in as somebody else beyond the
  rate the threshold is calibrated for, and that every refusal has a face-level reason.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from pg import PostgresServer
from pydantic import SecretStr

from models.package import UntrainedModelWarning
from service.config import Settings
from service.domain.keys import generate_token
from service.main import create_app

N_ENROLLED = 20
N_STRANGERS = 50
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
FACE_REFUSALS = {"unknown_face", "ambiguous_match", "no_face", "quality_too_low"}


def _lfw_people(lfw_dir: Path) -> tuple[list[list[Path]], list[Path]]:
    """20 people with ≥ 4 images (2 to enrol, 1 held out) and 50 others with exactly one, alphabetically."""
    folders = sorted(p for p in lfw_dir.iterdir() if p.is_dir())
    many = [sorted(f.glob("*.jpg")) for f in folders]
    enrolled = [images for images in many if len(images) >= 4][:N_ENROLLED]
    strangers = [images[0] for images in many if len(images) == 1][:N_STRANGERS]
    return enrolled, strangers


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def e2e(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str]]:
    folder = tmp_path_factory.mktemp(f"e2e-{request.param}")
    server: PostgresServer | None = None
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'facegate.db'}"
    else:
        server = request.getfixturevalue("postgres")
        url = server.create_database("e2e").render_as_string(hide_password=False)
    token = generate_token()
    settings = Settings(
        database_url=url,
        index_path=folder / "index.fgi",
        admin_key=SecretStr(token),
        rate_limit_per_minute=0,
        max_upload_bytes=1024 * 1024,
        log_level="INFO",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        with TestClient(create_app(settings)) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            yield client, request.param


def _check(client: TestClient, door_id: int, image: Path, headers: dict[str, str]) -> dict[str, object]:
    response = client.post(
        "/v1/access/check",
        data={"door_id": str(door_id)},
        files=[("frames", (image.name, image.read_bytes(), "image/jpeg"))],
        headers=headers,
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_doors_decide_by_face_and_rights(e2e: tuple[TestClient, str], lfw_dir: Path) -> None:
    client, dialect = e2e
    enrolled_images, strangers = _lfw_people(lfw_dir)
    assert len(enrolled_images) == N_ENROLLED and len(strangers) == N_STRANGERS

    doors = {
        name: client.post("/v1/doors", json={"name": name, "timezone": tz}).json()["id"]
        for name, tz in [("open", "Europe/Berlin"), ("scheduled", "America/New_York"), ("norule", "Asia/Tokyo")]
    }
    staff = client.post("/v1/groups", json={"name": "staff"}).json()["id"]
    terminal = client.post(
        "/v1/keys", json={"name": "terminal", "role": "terminal", "door_ids": list(doors.values())}
    ).json()["key"]
    as_terminal = {"Authorization": f"Bearer {terminal}"}

    now = datetime.now(UTC)
    people: list[int] = []
    expected_status: dict[int, str | None] = {}
    for i, images in enumerate(enrolled_images):
        body = {"external_id": f"lfw-{i:02d}", "display_name": images[0].parent.name}
        if i in (16, 17):  # expired
            body |= {
                "valid_from": (now - timedelta(days=30)).isoformat(),
                "valid_until": (now - timedelta(days=1)).isoformat(),
            }
        if i == 18:  # not valid yet
            body |= {"valid_from": (now + timedelta(days=1)).isoformat()}
        response = client.post("/v1/people", json=body)
        assert response.status_code == 201, response.text
        person_id = response.json()["id"]
        people.append(person_id)
        files = [("images", (p.name, p.read_bytes(), "image/jpeg")) for p in images[:2]]
        response = client.post(f"/v1/people/{person_id}/faces", files=files)
        if response.status_code == 409:  # the weak model finds a look-alike: an admin forces it, as an operator would
            assert response.json()["code"] == "duplicate_identity"
            response = client.post(f"/v1/people/{person_id}/faces?force=true", files=files)
        assert response.status_code == 201, response.text
        assert response.json()["enrolled"] >= 1
        if i in (14, 15):
            assert client.patch(f"/v1/people/{person_id}", json={"status": "suspended"}).status_code == 200
        expected_status[person_id] = {
            14: "person_suspended",
            15: "person_suspended",
            16: "person_expired",
            17: "person_expired",
            18: "person_not_yet_valid",
        }.get(i)
        if i != 19:  # person 19 is in no group: no rule anywhere
            assert client.put(f"/v1/groups/{staff}/members/{person_id}").status_code in (200, 204)

    assert client.post("/v1/rules", json={"group_id": staff, "door_id": doors["open"]}).status_code == 201
    local = now.astimezone(ZoneInfo("America/New_York"))
    today, other_day = DAYS[local.weekday()], DAYS[(local.weekday() + 3) % 7]
    inside = [{"days": [today], "start": "00:00", "end": "24:00"}]
    outside = [{"days": [other_day], "start": "00:00", "end": "24:00"}]
    for i in range(10):
        windows = inside if i < 5 else outside
        response = client.post(
            "/v1/rules", json={"person_id": people[i], "door_id": doors["scheduled"], "windows": windows}
        )
        assert response.status_code == 201, response.text

    def expected(person_index: int, door: str) -> str:
        status = expected_status[people[person_index]]
        if status is not None:
            return status
        if door == "open":
            return "no_rule" if person_index == 19 else "granted"
        if door == "scheduled":
            return "granted" if person_index < 5 else "outside_schedule" if person_index < 10 else "no_rule"
        return "no_rule"

    # The rights matrix, with enrolment images: the face matches, so each reason is exactly the policy's.
    checks = 0
    for i, images in enumerate(enrolled_images):
        for door in doors:
            decision = _check(client, doors[door], images[0], as_terminal)
            checks += 1
            assert decision["person"] is not None and decision["person"]["id"] == people[i], (i, door, decision)
            assert decision["reason"] == expected(i, door), (i, door, decision)
            assert decision["decision"] == ("granted" if decision["reason"] == "granted" else "denied")

    # Held-out images: the recogniser's real errors.
    false_accepts = false_rejects = genuine_ok = 0
    for i, images in enumerate(enrolled_images):
        decision = _check(client, doors["open"], images[3], as_terminal)
        checks += 1
        matched = decision["person"]["id"] if decision["person"] else None
        if matched == people[i]:
            genuine_ok += 1
            assert decision["reason"] == expected(i, "open")
        elif matched is not None:
            false_accepts += decision["decision"] == "granted"
        else:
            false_rejects += expected(i, "open") == "granted"
            assert decision["reason"] in FACE_REFUSALS, decision
    stranger_accepts = 0
    for image in strangers:
        decision = _check(client, doors["open"], image, as_terminal)
        checks += 1
        if decision["decision"] == "granted":
            stranger_accepts += 1
        else:
            assert decision["reason"] in FACE_REFUSALS | {
                "no_rule",
                "person_suspended",
                "person_expired",
                "person_not_yet_valid",
            }, decision
    print(
        f"\n[{dialect}] held-out: {genuine_ok}/{N_ENROLLED} enrolled people recognised, "
        f"{false_rejects} false rejects of people with rights, {false_accepts} let in as someone else; "
        f"strangers: {stranger_accepts}/{N_STRANGERS} let in (false accepts)"
    )
    # FAR 1e-3 per comparison × 20 people × 70 probes ≈ 1.4 expected false matches: more than 4 is a fault.
    assert false_accepts + stranger_accepts <= 4

    # Every check is in the log, newest first, with the terminal's key.
    log = client.get("/v1/access/log", params={"limit": 500}).json()
    assert log["total"] == checks
    assert {entry["door_id"] for entry in log["items"]} == set(doors.values())

    # A terminal cannot use a door it is not bound to, nor enrol.
    lobby = client.post("/v1/doors", json={"name": "lobby", "timezone": "UTC"}).json()["id"]
    response = client.post(
        "/v1/access/check",
        data={"door_id": str(lobby)},
        files=[("frames", ("a.jpg", enrolled_images[0][0].read_bytes(), "image/jpeg"))],
        headers=as_terminal,
    )
    assert response.status_code == 403 and response.json()["code"] == "door_not_allowed"
    assert client.get("/v1/people", headers=as_terminal).status_code == 403

    # Deleting a person removes their face from SQL and the index: their own enrolment image is now unknown.
    assert client.delete(f"/v1/people/{people[0]}").status_code == 204
    decision = _check(client, doors["open"], enrolled_images[0][0], as_terminal)
    assert decision["person"] is None or decision["person"]["id"] != people[0]
    assert decision["decision"] == "denied"
