"""Fixtures of the ``facegate`` command-line tests: each test gets its own SQLite database and index path through
``FACEGATE_*`` variables (as an operator's shell would give them), and a ``cli`` callable that runs a command
in-process with Typer's runner and checks its exit status.

Commands that look at faces open a real :class:`~service.runtime.Runtime`; only its model loading is shared:
``service.runtime.load_embedder`` is swapped for one embedder built once per session from the default settings,
so each such command costs milliseconds instead of seconds of model loading. Everything else (migrations, index
start, enrolment, decisions, log) runs for real.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from cli_support import Cli, CliEnv
from PIL import Image
from typer.testing import CliRunner

if TYPE_CHECKING:
    from typer.testing import Result

    from models.embedder import FaceEmbedder

# Variables a developer's shell may hold that would change what the tests see; FACEGATE_DATA_DIR and the
# FACEGATE_REQUIRE_* switches are the test suite's own and stay.
_KEPT = ("FACEGATE_DATA_DIR", "FACEGATE_REQUIRE_DATA", "FACEGATE_REQUIRE_PG")


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest schema, migrated once per session (per xdist worker) and copied per test."""
    from service.db.migrate import upgrade

    path = tmp_path_factory.mktemp("migrated") / "facegate.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, migrated_db: Path) -> CliEnv:
    """A fresh SQLite database at the newest schema (what `facegate db upgrade` leaves; the other commands
    never create or migrate one) and an index path for this test, given as FACEGATE_* variables."""
    for name in list(os.environ):
        if name.startswith("FACEGATE_") and name not in _KEPT:
            monkeypatch.delenv(name)
    shutil.copyfile(migrated_db, tmp_path / "facegate.db")
    env = CliEnv(f"sqlite:///{tmp_path / 'facegate.db'}", tmp_path / "index.fgi", tmp_path)
    monkeypatch.setenv("FACEGATE_DATABASE_URL", env.database_url)
    monkeypatch.setenv("FACEGATE_INDEX_PATH", str(env.index_path))
    return env


@pytest.fixture
def cli(cli_env: CliEnv) -> Cli:
    """``cli("people", "add", ..., code=0, input=None)``: run a command, assert its exit status, return the result."""
    runner = CliRunner()

    def run(*args: str, code: int | None = 0, input: str | None = None) -> Result:
        from service.cli import app

        result = runner.invoke(app, list(args), input=input)
        if code is not None:
            assert result.exit_code == code, (
                f"facegate {' '.join(args)} exited {result.exit_code}, expected {code}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}\nexception: {result.exception!r}"
            )
        return result

    return run


@pytest.fixture(scope="session")
def cli_embedder() -> FaceEmbedder:
    """The embedder the service builds from default settings (detector min face, limits), built once."""
    from service.config import Settings
    from service.faces import load_embedder

    return load_embedder(Settings(database_url="sqlite://", index_path=None))


@pytest.fixture
def with_model(cli_env: CliEnv, cli_embedder: FaceEmbedder, monkeypatch: pytest.MonkeyPatch) -> FaceEmbedder:
    """Runtime.open (CLI commands and the app's lifespan alike) gets the session's embedder instead of loading one."""
    monkeypatch.setattr("service.runtime.load_embedder", lambda _settings: cli_embedder)
    return cli_embedder


@pytest.fixture(scope="session")
def faceless_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 160×160 picture of smooth noise: a valid image with no face in it."""
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("faceless") / "wall.png"
    Image.fromarray(small).resize((160, 160), Image.Resampling.BILINEAR).save(path)
    return path
