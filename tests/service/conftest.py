"""Fixtures of the service tests: one app with the real model package and MTCNN, loaded once per session,
and the bytes of the face images bundled in tests/fixtures/faces (located by tests/conftest.py)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from models.package import UntrainedModelWarning
from service.config import Settings
from service.main import create_app

# Small limits so that the over-limit cases stay cheap to build and send.
MAX_UPLOAD_BYTES = 256 * 1024
MAX_PIXELS = 1_000_000


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Test settings. Each field that changes behaviour is given, so no FACEGATE_* variable leaks in."""
    return Settings(
        model_path=None,
        device=None,
        flip_tta=False,
        max_upload_bytes=MAX_UPLOAD_BYTES,
        max_pixels=MAX_PIXELS,
        log_level="INFO",
    )


@pytest.fixture(scope="session")
def app(settings: Settings) -> FastAPI:
    """The app under test; its lifespan runs in ``client``."""
    return create_app(settings)


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client whose app has run its lifespan: the shipped (untrained, hence warning) model is loaded."""
    test_client = TestClient(app)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedModelWarning)
        test_client.__enter__()
    try:
        yield test_client
    finally:
        test_client.__exit__(None, None, None)


@pytest.fixture(scope="session")
def lfw_jpeg(fixture_face_paths: list[Path]) -> bytes:
    """A 250×250 RGB LFW JPEG with one face near the centre."""
    return fixture_face_paths[0].read_bytes()


@pytest.fixture(scope="session")
def att_pgm(fixture_pgm_path: Path) -> bytes:
    """A 92×112 greyscale AT&T PGM with one frontal face."""
    return fixture_pgm_path.read_bytes()
