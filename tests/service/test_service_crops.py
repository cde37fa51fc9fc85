"""Kept crops: off by default; when the operator opts in, each template's aligned crop is stored encrypted and
decrypts back to the 112×112 face; a wrong key cannot read it; opting in without a key is refused."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from sqlalchemy import select

from models.package import UntrainedModelWarning
from service.config import Settings
from service.db.models import FaceTemplate
from service.domain.crops import CropCipher, CropKeyError
from service.domain.keys import generate_token
from service.main import create_app


def test_keeping_crops_needs_a_key() -> None:
    with pytest.raises(ValidationError, match="FACEGATE_KEEP_CROPS needs FACEGATE_CROP_KEY"):
        Settings(keep_crops=True, crop_key=None)


def test_a_bad_crop_key_is_refused() -> None:
    with pytest.raises(CropKeyError):
        CropCipher("not a fernet key")


def test_enrolled_crops_are_stored_encrypted(tmp_path: Path, fixture_face_paths: list[Path]) -> None:
    key, token = CropCipher.generate_key(), generate_token()
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'crops.db'}",
        index_path=tmp_path / "index.fgi",
        admin_key=SecretStr(token),
        rate_limit_per_minute=0,
        keep_crops=True,
        crop_key=SecretStr(key),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        with TestClient(create_app(settings)) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            person = client.post("/v1/people", json={"external_id": "crop-1", "display_name": "C"}).json()["id"]
            image = fixture_face_paths[1].read_bytes()
            response = client.post(f"/v1/people/{person}/faces", files=[("images", ("a.jpg", image, "image/jpeg"))])
            assert response.status_code == 201, response.text
            assert client.get(f"/v1/people/{person}/faces").json()[0]["has_crop"] is True
            runtime = client.app.state.runtime
            with runtime.sessionmaker() as session:
                stored = session.scalars(select(FaceTemplate.aligned_crop)).one()
    assert stored is not None and b"\x89PNG" not in stored and b"IHDR" not in stored
    crop = CropCipher(key).decrypt(stored)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8 and crop.std() > 10
    with pytest.raises(CropKeyError):
        CropCipher(CropCipher.generate_key()).decrypt(stored)


def test_crops_are_not_kept_by_default(admin: TestClient, fixture_face_paths: list[Path]) -> None:
    person = admin.post("/v1/people", json={"external_id": "nocrop-1", "display_name": "N"}).json()["id"]
    image = fixture_face_paths[2].read_bytes()
    response = admin.post(f"/v1/people/{person}/faces", files=[("images", ("a.jpg", image, "image/jpeg"))])
    assert response.status_code == 201, response.text
    assert [t["has_crop"] for t in admin.get(f"/v1/people/{person}/faces").json()] == [False]
