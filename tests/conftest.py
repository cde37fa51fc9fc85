"""Shared fixtures: where the real face data lives, small bundled face images, and the heavy models.

The real data folder is ``../shared/data`` next to the repository (``FACEGATE_DATA_DIR`` overrides it).
Tests that need it skip when it is absent, except when ``FACEGATE_REQUIRE_DATA=1`` (CI), where a missing
folder is a failure: CI must never pass by skipping the tests that look at real faces.

Models are loaded once per session. Nothing here downloads anything: MTCNN's weights ship inside the
facenet-pytorch wheel and the model package is in the repository.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from models.detection import FaceDetector
    from models.embedder import FaceEmbedder
    from models.package import ModelPackage

REPO_ROOT = Path(__file__).resolve().parents[1]
# The repository's parent holds ``shared/data`` (``/work/main/../shared/data``).
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"


def _data_required() -> bool:
    return os.environ.get("FACEGATE_REQUIRE_DATA", "").strip().lower() in ("1", "true", "yes")


def require_data_path(path: Path, what: str) -> Path:
    """``path`` if it exists; otherwise skip, or fail when ``FACEGATE_REQUIRE_DATA=1``."""
    if path.exists():
        return path
    reason = (
        f"{what} not found at {path} (set FACEGATE_DATA_DIR to the shared data folder; see ../shared/data/README.md)"
    )
    if _data_required():
        pytest.fail(f"FACEGATE_REQUIRE_DATA=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    """A server named by FACEGATE_TEST_PG_URL is someone else's, with a password that is not ours to judge: the
    settings would refuse a weak one (FACEGATE_ALLOW_INSECURE_DB_PASSWORD); the private servers of tests/pg.py
    have random passwords and need no such allowance."""
    if os.environ.get("FACEGATE_TEST_PG_URL"):
        os.environ.setdefault("FACEGATE_ALLOW_INSECURE_DB_PASSWORD", "1")


@pytest.fixture(scope="session", autouse=True)
def _torch_single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread unless ``OMP_NUM_THREADS`` says otherwise.

    The tests push tiny batches; on a 2-core machine that is busy with anything else, OpenMP's spinning worker
    threads make them 5-70× slower (measured: the models suite took 204 s with two threads and 33 s with one on
    the same loaded machine). One thread is also bit-for-bit repeatable.
    """
    if os.environ.get("OMP_NUM_THREADS"):
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared real-data folder (LFW, AT&T, CelebA labels)."""
    configured = os.environ.get("FACEGATE_DATA_DIR")
    path = Path(configured).expanduser() if configured else DEFAULT_DATA_DIR
    return require_data_path(path, "the face data folder")


@pytest.fixture(scope="session")
def lfw_dir(data_dir: Path) -> Path:
    """``lfw/images_deepfunneled``: one folder per person."""
    return require_data_path(data_dir / "lfw" / "images_deepfunneled", "LFW deep-funneled images")


@pytest.fixture(scope="session")
def att_dir(data_dir: Path) -> Path:
    """``att_faces``: ``sN/M.pgm``, 40 people × 10 greyscale images."""
    return require_data_path(data_dir / "att_faces", "the AT&T face database")


@pytest.fixture(scope="session")
def fixture_face_paths() -> list[Path]:
    """Four real LFW JPEGs bundled in ``tests/fixtures/faces`` (one clearly visible face each)."""
    paths = sorted((FIXTURES_DIR / "faces").glob("*.jpg"))
    assert len(paths) == 4, f"expected 4 bundled LFW images in {FIXTURES_DIR / 'faces'}, found {len(paths)}"
    return paths


@pytest.fixture(scope="session")
def fixture_pgm_path() -> Path:
    """A real AT&T PGM (92×112 grey) bundled in ``tests/fixtures/faces``."""
    path = FIXTURES_DIR / "faces" / "att_s1_1.pgm"
    assert path.is_file(), f"missing bundled fixture {path}"
    return path


@pytest.fixture(scope="session")
def detector() -> FaceDetector:
    """MTCNN, loaded once (weights from the facenet-pytorch wheel)."""
    from models.detection import FaceDetector

    return FaceDetector()


@pytest.fixture(scope="session")
def default_package() -> ModelPackage:
    """The shipped package (trained: loading it must not warn that it is untrained)."""
    import warnings

    from models.package import UntrainedModelWarning, load_package

    with warnings.catch_warnings():
        warnings.simplefilter("error", UntrainedModelWarning)
        return load_package()


@pytest.fixture(scope="session")
def embedder(default_package: ModelPackage, detector: FaceDetector) -> FaceEmbedder:
    """The full pipeline on the shipped package, without flip-TTA."""
    from models.embedder import FaceEmbedder

    return FaceEmbedder(default_package, detector=detector)
