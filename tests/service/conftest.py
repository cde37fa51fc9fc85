"""Fixtures of the service tests: one app with the real model package and MTCNN, loaded once per session,
and the bytes of the face images bundled in tests/fixtures/faces (located by tests/conftest.py)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pg import PostgresServer, postgres_server
from pydantic import SecretStr

from models.package import UntrainedModelWarning
from service.config import Settings
from service.domain.keys import generate_token
from service.main import create_app

# Small limits so that the over-limit cases stay cheap to build and send.
MAX_UPLOAD_BYTES = 256 * 1024
MAX_PIXELS = 1_000_000
ACCESS_MAX_PIXELS = 500_000  # tighter for door frames than for enrolment photos, as in production


# The session's admin key, given to the app as the operator's first admin key (FACEGATE_ADMIN_KEY).
ADMIN_TOKEN = generate_token()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Test settings on a fresh SQLite database. Each field that changes behaviour is given, so no FACEGATE_*
    variable leaks in."""
    folder = tmp_path_factory.mktemp("service")
    return Settings(
        model_path=None,
        device=None,
        flip_tta=False,
        max_upload_bytes=MAX_UPLOAD_BYTES,
        max_pixels=MAX_PIXELS,
        access_max_pixels=ACCESS_MAX_PIXELS,
        log_level="INFO",
        database_url=f"sqlite:///{folder / 'facegate.db'}",
        index_path=folder / "index.fgi",
        admin_key=SecretStr(ADMIN_TOKEN),
        rate_limit_per_minute=0,
        auth_failures_per_minute=0,  # many tests send wrong keys from the same address; one test sets a limit
        keep_crops=False,
        crop_key=None,
    )


@pytest.fixture(scope="session")
def admin_headers() -> dict[str, str]:
    """Authorization headers of the session's admin key."""
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def admin(client: TestClient, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    """``client`` sending the admin key with every request."""
    client.headers.update(admin_headers)
    try:
        yield client
    finally:
        for name in admin_headers:
            client.headers.pop(name, None)


@pytest.fixture(scope="session")
def app(settings: Settings) -> FastAPI:
    """The app under test; its lifespan runs in ``client``."""
    return create_app(settings)


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client whose app has run its lifespan: the shipped (trained) model package and MTCNN are loaded."""
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


def _pg_required() -> bool:
    return os.environ.get("FACEGATE_REQUIRE_PG", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (skips, or fails under ``FACEGATE_REQUIRE_PG=1``, when there is none)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        reason = "the psycopg driver is not installed"
    else:
        try:
            with postgres_server() as server:
                yield server
            return
        except FileNotFoundError as exc:
            reason = str(exc)
    if _pg_required():
        pytest.fail(f"FACEGATE_REQUIRE_PG=1 but {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")
