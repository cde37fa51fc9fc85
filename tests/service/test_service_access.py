"""``POST /v1/access/check`` without the LFW set: refusals by face, fail-closed on internal errors (still logged),
bad frames are 4xx and decide nothing, several frames must agree, the threshold follows the gallery (answer, log,
/readyz), and /metrics counts the decisions and their scores."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import event

from service.config import Settings
from service.core.access import check_at_door
from service.domain.outcomes import AccessOutcome
from service.repositories.errors import NotFoundError


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


SKY = _png(np.full((240, 320, 3), (120, 170, 230), np.uint8))


@pytest.fixture
def door(admin: TestClient, request: pytest.FixtureRequest) -> int:
    name = f"access-{request.node.name}"[:100]
    return int(admin.post("/v1/doors", json={"name": name, "timezone": "Europe/Paris"}).json()["id"])


def _check(client: TestClient, door_id: int, *frames: bytes) -> dict[str, object]:
    files = [("frames", (f"f{i}.png", data, "image/png")) for i, data in enumerate(frames)]
    response = client.post("/v1/access/check", data={"door_id": str(door_id)}, files=files)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _log_total(admin: TestClient, door_id: int) -> int:
    return int(admin.get("/v1/access/log", params={"door_id": door_id}).json()["total"])


def test_no_face_is_denied_and_logged(admin: TestClient, door: int) -> None:
    decision = _check(admin, door, SKY)
    assert (decision["decision"], decision["reason"]) == ("denied", "no_face")
    assert decision["person"] is None and decision["usable_frames"] == 0
    entry = admin.get("/v1/access/log", params={"door_id": door}).json()["items"][0]
    assert (entry["id"], entry["reason"], entry["decision"]) == (decision["log_id"], "no_face", "denied")
    assert set(decision["stages_ms"]) >= {"decode", "detect", "log"}


def test_unknown_face(admin: TestClient, door: int, fixture_face_paths: list[Path]) -> None:
    # Nobody enrolled looks like AJ Cook in this session's database (others enrol other fixtures under
    # other names, but never for this door: no rule would grant anyway).
    decision = _check(admin, door, fixture_face_paths[0].read_bytes())
    assert decision["decision"] == "denied"
    assert decision["reason"] in ("unknown_face", "no_rule", "ambiguous_match")


def test_a_bad_frame_is_a_400_and_decides_nothing(admin: TestClient, door: int) -> None:
    before = _log_total(admin, door)
    files = [("frames", ("a.png", SKY, "image/png")), ("frames", ("b.png", b"garbage", "image/png"))]
    response = admin.post("/v1/access/check", data={"door_id": str(door)}, files=files)
    assert (response.status_code, response.json()["code"]) == (400, "image_not_an_image")
    assert _log_total(admin, door) == before


def test_unknown_door_and_too_many_frames(admin: TestClient, door: int) -> None:
    response = admin.post(
        "/v1/access/check", data={"door_id": "2147483647"}, files=[("frames", ("a.png", SKY, "image/png"))]
    )
    assert (response.status_code, response.json()["code"]) == (404, "door_not_found")
    files = [("frames", (f"{i}.png", SKY, "image/png")) for i in range(9)]
    response = admin.post("/v1/access/check", data={"door_id": str(door)}, files=files)
    assert (response.status_code, response.json()["code"]) == (422, "too_many_images")


def test_internal_failure_denies_and_is_logged(
    admin: TestClient, door: int, fixture_face_paths: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = admin.app.state.runtime

    def broken_search(query: np.ndarray, k: int) -> list[object]:
        raise RuntimeError("index exploded")

    monkeypatch.setattr(runtime.index.index, "search", broken_search)
    decision = _check(admin, door, fixture_face_paths[1].read_bytes())
    assert (decision["decision"], decision["reason"]) == ("denied", "internal_error")
    entry = admin.get("/v1/access/log", params={"door_id": door, "reason": "internal_error"}).json()["items"][0]
    assert entry["id"] == decision["log_id"]


def test_frames_must_agree(admin: TestClient, door: int, fixture_face_paths: list[Path]) -> None:
    """Two people enrolled, one frame of each: ambiguous, even though each frame alone would match."""
    a, b = (fixture_face_paths[i].read_bytes() for i in (2, 3))
    before = admin.get("/readyz").json()
    ids = []
    for name, image in (("agree-a", a), ("agree-b", b)):
        person = admin.post("/v1/people", json={"external_id": name, "display_name": name}).json()["id"]
        response = admin.post(
            f"/v1/people/{person}/faces?force=true", files=[("images", ("x.jpg", image, "image/jpeg"))]
        )
        assert response.status_code == 201, response.text
        assert admin.post("/v1/rules", json={"person_id": person, "door_id": door}).status_code == 201
        ids.append(person)
    single = _check(admin, door, a)
    assert single["reason"] == "granted" and single["person"]["id"] == ids[0]
    # the threshold in force and the gallery it was derived for: in the answer, the log row, /readyz, /metrics
    ready = admin.get("/readyz").json()
    assert ready["threshold_basis"] == "fpir" and ready["target_fpir"] == 1e-3
    assert (ready["template_match"], ready["frame_fusion"]) == ("max", "all_agree")
    assert ready["threshold_matched"] == "max:single_vs_mean"  # the mean template's tail is the higher
    assert ready["threshold_gallery_size"] == before["threshold_gallery_size"] + 2
    assert ready["threshold"] > before["threshold"]  # more people enrolled: more chances for a stranger
    assert single["gallery_size"] == ready["threshold_gallery_size"] == ready["index_templates"] >= 2
    assert single["threshold"] == pytest.approx(ready["threshold"])
    entry = admin.get("/v1/access/log", params={"door_id": door}).json()["items"][0]
    assert (entry["threshold"], entry["gallery_size"]) == (single["threshold"], single["gallery_size"])
    text = admin.get("/metrics").text
    assert 'facegate_decision_score_count{outcome="granted"}' in text and "facegate_threshold_gallery_size" in text
    assert _check(admin, door, a, a)["reason"] == "granted"
    mixed = _check(admin, door, a, b)
    assert (mixed["decision"], mixed["reason"], mixed["person"]) == ("denied", "ambiguous_match", None)
    # A frame without a face is skipped; the others decide.
    assert _check(admin, door, SKY, a)["reason"] == "granted"
    for person in ids:
        admin.delete(f"/v1/people/{person}")
    after = admin.get("/readyz").json()
    assert (after["threshold_gallery_size"], after["threshold"]) == (
        before["threshold_gallery_size"],
        before["threshold"],
    )


def test_metrics_count_decisions(admin: TestClient, door: int) -> None:
    _check(admin, door, SKY)
    text = admin.get("/metrics").text
    assert 'facegate_decisions_total{decision="denied",reason="no_face"}' in text
    assert 'facegate_stage_seconds_bucket{le="0.005",stage="detect"}' in text
    assert "facegate_index_templates" in text and "facegate_http_requests_total" in text


def test_access_frames_have_a_tighter_pixel_limit_than_enrolment_photos(
    admin: TestClient, door: int, fixture_face_paths: list[Path], settings: Settings
) -> None:
    """An 800×800 photo (640,000 px: over access_max_pixels, under max_pixels) is refused as a door frame with a
    413 image_too_large that decides and logs nothing, while the detect endpoint (enrolment's limits) finds its
    face."""
    face = Image.open(fixture_face_paths[0]).convert("RGB").resize((800, 800), Image.Resampling.BICUBIC)
    assert settings.access_max_pixels < 800 * 800 <= settings.max_pixels
    buffer = io.BytesIO()
    face.save(buffer, format="JPEG", quality=85)
    before = _log_total(admin, door)
    files = [("frames", ("big.jpg", buffer.getvalue(), "image/jpeg"))]
    response = admin.post("/v1/access/check", data={"door_id": str(door)}, files=files)
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "image_too_large"
    assert _log_total(admin, door) == before
    found = admin.post("/v1/faces/detect", files={"image": ("big.jpg", buffer.getvalue(), "image/jpeg")})
    assert found.status_code == 200, found.text
    assert found.json()["faces"], found.json()


def test_one_check_is_one_call_with_two_or_three_database_sessions(
    admin: TestClient, door: int, fixture_face_paths: list[Path]
) -> None:
    """The route and the kiosk make one call (door lookup, decision, log, metrics). Its sessions, counted in the
    calling thread (the index's poller runs in its own): the door and the log row always; the index's revision
    check once a frame has a usable face; the matched person's rights are read in the log row's session (they had
    a session of their own before: 4 for a matched face)."""
    runtime = admin.app.state.runtime
    caller = threading.get_ident()
    begun: list[int] = []

    def count(session: object, _transaction: object, _connection: object) -> None:
        if threading.get_ident() == caller:
            begun.append(id(session))

    def sessions(*frames: bytes) -> tuple[int, str]:
        begun.clear()
        observed: list[AccessOutcome] = []
        outcome = check_at_door(runtime, door_id=door, frames=list(frames), key_id=None, observe=observed.append)
        assert observed == [outcome] and outcome.log_id is not None
        return len(begun), outcome.reason.value

    face = fixture_face_paths[2].read_bytes()
    person = admin.post("/v1/people", json={"external_id": "sessions-a", "display_name": "A"}).json()["id"]
    enrolled = admin.post(f"/v1/people/{person}/faces?force=true", files=[("images", ("a.jpg", face, "image/jpeg"))])
    assert enrolled.status_code == 201, enrolled.text
    event.listen(runtime.sessionmaker, "after_begin", count)
    try:
        assert sessions(SKY) == (2, "no_face")
        assert sessions(face) == (3, "no_rule")
        assert admin.post("/v1/rules", json={"person_id": person, "door_id": door}).status_code == 201
        assert sessions(face) == (3, "granted")
        assert sessions(face, face) == (3, "granted")
    finally:
        event.remove(runtime.sessionmaker, "after_begin", count)
        admin.delete(f"/v1/people/{person}")
    with pytest.raises(NotFoundError):
        check_at_door(runtime, door_id=2**31 - 1, frames=[SKY], key_id=None)


def test_a_grant_that_cannot_be_logged_is_a_denial(
    admin: TestClient, door: int, fixture_face_paths: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nobody passes unrecorded: when the log row's transaction fails (here its outbox rows), the grant becomes an
    ``internal_error`` denial and nothing of it stays in the log (the rights were read in that same session)."""
    runtime = admin.app.state.runtime
    face = fixture_face_paths[3].read_bytes()
    person = admin.post("/v1/people", json={"external_id": "unlogged-a", "display_name": "A"}).json()["id"]
    enrolled = admin.post(f"/v1/people/{person}/faces?force=true", files=[("images", ("a.jpg", face, "image/jpeg"))])
    assert enrolled.status_code == 201, enrolled.text
    assert admin.post("/v1/rules", json={"person_id": person, "door_id": door}).status_code == 201
    try:
        assert check_at_door(runtime, door_id=door, frames=[face], key_id=None).reason.value == "granted"
        before = _log_total(admin, door)

        def broken_outbox(*_args: object, **_kwargs: object) -> int:
            raise RuntimeError("outbox exploded")

        monkeypatch.setattr("service.core.access.enqueue_decision", broken_outbox)
        outcome = check_at_door(runtime, door_id=door, frames=[face], key_id=None)
        assert (outcome.decision.value, outcome.reason.value, outcome.log_id, outcome.rule_id) == (
            "denied",
            "internal_error",
            None,
            None,
        )
        assert outcome.person is not None and outcome.person.id == person
        assert _log_total(admin, door) == before
    finally:
        admin.delete(f"/v1/people/{person}")
