"""Images too small to hold a face (a 1×1 PNG, an 8000×2 strip, 12×500) once crashed MTCNN inside
facenet-pytorch (``torch.cat(): expected a non-empty list of Tensors``): 500 on enrol, verify, identify and detect,
and an ``internal_error`` denial when one tiny frame rode along with a good one. They are "no face" everywhere."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image


def _png(height: int, width: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), 128, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


TINY = [_png(1, 1), _png(2, 8000), _png(12, 500), _png(500, 12)]
TINY_IDS = ["1x1", "2x8000", "12x500", "500x12"]


@pytest.mark.parametrize("image", TINY, ids=TINY_IDS)
def test_detect_finds_no_face(admin: TestClient, image: bytes) -> None:
    response = admin.post("/v1/faces/detect", files={"image": ("t.png", image, "image/png")})
    assert response.status_code == 200, response.text
    assert response.json()["faces"] == []


@pytest.mark.parametrize("image", TINY, ids=TINY_IDS)
def test_enrol_refuses_with_no_usable_face(admin: TestClient, image: bytes) -> None:
    person = admin.post(
        "/v1/people", json={"external_id": f"tiny-{len(image)}-{image[-8:].hex()}", "display_name": "T"}
    )
    assert person.status_code == 201, person.text
    response = admin.post(f"/v1/people/{person.json()['id']}/faces", files=[("images", ("t.png", image, "image/png"))])
    assert (response.status_code, response.json()["code"]) == (422, "no_usable_face")
    assert response.json()["errors"][0]["type"] == "no_face"


@pytest.mark.parametrize("image", TINY, ids=TINY_IDS)
def test_verify_and_identify_answer_no_face(admin: TestClient, image: bytes, fixture_face_paths: list[Path]) -> None:
    files = {"image": ("t.png", image, "image/png")}
    identified = admin.post("/v1/identify", files=files)
    assert identified.status_code == 200, identified.text
    assert identified.json()["reason"] == "no_face" and identified.json()["candidates"] == []
    person = admin.post(
        "/v1/people", json={"external_id": f"tiny-v-{len(image)}-{image[-8:].hex()}", "display_name": "V"}
    )
    assert person.status_code == 201, person.text
    person_id = person.json()["id"]
    verified = admin.post("/v1/verify", data={"person_id": str(person_id)}, files=files)
    assert verified.status_code == 200, verified.text
    assert verified.json()["verified"] is False and verified.json()["reason"] == "no_face"


def test_a_tiny_extra_frame_does_not_spoil_a_good_check(admin: TestClient, fixture_face_paths: list[Path]) -> None:
    face = fixture_face_paths[1].read_bytes()
    person = admin.post("/v1/people", json={"external_id": "tiny-check-1", "display_name": "Check"}).json()["id"]
    enrolled = admin.post(f"/v1/people/{person}/faces", files=[("images", ("f.jpg", face, "image/jpeg"))])
    assert enrolled.status_code == 201, enrolled.text
    door = admin.post("/v1/doors", json={"name": "tiny-check-door", "timezone": "UTC"}).json()["id"]
    rule = admin.post("/v1/rules", json={"person_id": person, "door_id": door})
    assert rule.status_code == 201, rule.text
    files = [("frames", ("a.jpg", face, "image/jpeg")), ("frames", ("b.png", TINY[0], "image/png"))]
    response = admin.post("/v1/access/check", data={"door_id": str(door)}, files=files)
    assert response.status_code == 200, response.text
    assert (response.json()["decision"], response.json()["reason"]) == ("granted", "granted")
    assert response.json()["usable_frames"] == 1
