"""POST /v1/faces/detect on real face images, through the real model package and MTCNN."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from service.config import Settings

DETECT = "/v1/faces/detect"
QUALITY_KEYS = {"interocular_px", "det_score", "blur", "yaw", "pitch", "roll"}


def upload(data: bytes, filename: str = "face.jpg", content_type: str = "image/jpeg") -> dict[str, Any]:
    """The ``files=`` of a multipart upload in the ``image`` field."""
    return {"image": (filename, data, content_type)}


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_one_face_with_landmarks_quality_and_no_embedding_by_default(admin: TestClient, lfw_jpeg: bytes) -> None:
    response = admin.post(DETECT, files=upload(lfw_jpeg))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["model_id"].startswith("fg1-")
    assert body["model_trained"] is True
    assert body["image"] == {"width": 250, "height": 250}
    [face] = body["faces"]
    assert face["subject"] is True
    assert "embedding" not in face
    x1, y1, x2, y2 = face["box"]
    # LFW deep-funneled images are centred on the face.
    assert 0 <= x1 < 125 < x2 <= 250 and 0 <= y1 < 125 < y2 <= 250
    landmarks = np.asarray(face["landmarks"])
    assert landmarks.shape == (5, 2)
    assert np.all((landmarks[:, 0] > x1) & (landmarks[:, 0] < x2) & (landmarks[:, 1] > y1) & (landmarks[:, 1] < y2))
    assert landmarks[0, 0] < landmarks[1, 0]  # left eye left of right eye, as seen in the image
    assert 0.9 < face["score"] <= 1.0
    assert set(face["quality"]) == QUALITY_KEYS
    assert face["quality"]["det_score"] == face["score"]
    assert face["quality"]["interocular_px"] > 20
    assert abs(face["quality"]["roll"]) < 20


def test_embeddings_when_asked_are_unit_norm(admin: TestClient, lfw_jpeg: bytes) -> None:
    response = admin.post(DETECT, files=upload(lfw_jpeg), params={"embeddings": "true"})
    assert response.status_code == 200, response.text
    [face] = response.json()["faces"]
    embedding = np.asarray(face["embedding"], dtype=np.float64)
    assert embedding.shape == (512,)
    assert np.all(np.isfinite(embedding))
    assert math.isclose(float(np.linalg.norm(embedding)), 1.0, abs_tol=1e-4)


def test_greyscale_pgm_face(admin: TestClient, att_pgm: bytes) -> None:
    response = admin.post(DETECT, files=upload(att_pgm, "face.pgm", "image/x-portable-graymap"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["image"] == {"width": 92, "height": 112}
    [face] = body["faces"]
    assert face["subject"] is True
    assert len(face["landmarks"]) == 5


def test_only_the_central_face_is_the_subject(admin: TestClient, lfw_jpeg: bytes, att_pgm: bytes) -> None:
    canvas = Image.new("RGB", (640, 400), (128, 128, 128))
    canvas.paste(Image.open(io.BytesIO(lfw_jpeg)), (195, 75))  # the subject, in the middle
    canvas.paste(Image.open(io.BytesIO(att_pgm)).convert("RGB"), (0, 0))  # a smaller face in the corner
    response = admin.post(DETECT, files=upload(png(canvas), "two.png", "image/png"))
    assert response.status_code == 200, response.text
    faces = response.json()["faces"]
    assert len(faces) == 2
    [subject] = [f for f in faces if f["subject"]]
    x1, y1, x2, y2 = subject["box"]
    assert x1 > 195 and x2 < 195 + 250 and y1 > 75 and y2 < 75 + 250
    scores = [f["score"] for f in faces]
    assert scores == sorted(scores, reverse=True)


def test_no_face_gives_an_empty_list(admin: TestClient) -> None:
    gradient = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
    image = Image.fromarray(np.stack([gradient, gradient[::-1], np.full_like(gradient, 90)], axis=2))
    response = admin.post(DETECT, files=upload(png(image), "sky.png", "image/png"), params={"embeddings": "true"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["faces"] == []
    assert body["image"] == {"width": 320, "height": 240}


def test_an_upload_exactly_at_the_limit_is_read(admin: TestClient, settings: Settings, lfw_jpeg: bytes) -> None:
    # JPEG decoders stop at the end-of-image marker, so padding brings the file to the exact limit.
    padded = lfw_jpeg + b"\0" * (settings.max_upload_bytes - len(lfw_jpeg))
    response = admin.post(DETECT, files=upload(padded))
    assert response.status_code == 200, response.text
    assert len(response.json()["faces"]) == 1
