"""The service without PyTorch (issue 13): with the ONNX runtime (the default) the app starts, enrols a real LFW
face and grants it at a door over HTTP, and the ``facegate`` read commands answer, in a process where ``torch``,
``torchvision`` and ``facenet_pytorch`` cannot be imported (``tests/fixtures/no_torch``: what an install without
them sees); with ``FACEGATE_INFERENCE_RUNTIME=torch`` there, the server refuses to start with one line naming the
missing package.

Subprocesses, because the point is what a fresh interpreter imports; each gets its own SQLite database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.domain.keys import generate_token

ROOT = Path(__file__).resolve().parents[2]
NO_TORCH = ROOT / "tests" / "fixtures" / "no_torch"
TIMEOUT_S = 600  # a bound on a hung child, not a speed check


def _env(folder: Path, **extra: str) -> dict[str, str]:
    """The child's environment: no FACEGATE_* of ours, a fresh SQLite database, torch made unimportable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), str(NO_TORCH)]),
        FACEGATE_DATABASE_URL=f"sqlite:///{folder / 'facegate.db'}",
        FACEGATE_INDEX_PATH=str(folder / "index.fgi"),
        FACEGATE_ADMIN_KEY=generate_token(),
        FACEGATE_RATE_LIMIT_PER_MINUTE="0",
        FACEGATE_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def _facegate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-c", "from service.cli import app; app(prog_name='facegate')", *args], env)


def test_the_blocker_makes_torch_unimportable(tmp_path: Path) -> None:
    """The fixture does what the other tests rely on: ``import torch`` fails as for a package not installed."""
    result = _run([sys.executable, "-c", "import torch"], _env(tmp_path))
    assert result.returncode == 1
    assert "ModuleNotFoundError: No module named 'torch'" in result.stderr


def test_the_onnx_service_enrols_and_grants_without_torch(tmp_path: Path, fixture_face_paths: list[Path]) -> None:
    face, stranger = fixture_face_paths[0], fixture_face_paths[1]
    env = _env(tmp_path)
    result = _run([sys.executable, str(ROOT / "tests" / "service" / "no_torch_app.py"), str(face), str(stranger)], env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["runtime"] == "onnx"
    assert report["statuses"] == [201, 201, 201, 201], report
    assert report["check_status"] == 200 and report["check"]["decision"] == "granted", report["check"]
    assert report["check"]["person"]["external_id"] == "no-torch-1"
    assert report["stranger_status"] == 200 and report["stranger"]["decision"] != "granted", report["stranger"]
    assert report["torch_modules"] == []

    # The operator's read commands on the same database, in fresh interpreters without torch.
    people = _facegate(env, "people", "list", "--json")
    assert people.returncode == 0, people.stderr
    assert "no-torch-1" in people.stdout
    doors = _facegate(env, "doors", "list", "--json")
    assert doors.returncode == 0 and "lobby" in doors.stdout, doors.stderr
    model = _facegate(env, "model", "info", "--json")
    assert model.returncode == 0, model.stderr
    assert json.loads(model.stdout)["model_id"] == report["model_id"]
    index = _facegate(env, "index", "status", "--json")
    assert index.returncode == 0, index.stderr
    assert json.loads(index.stdout)["sql_templates"] == 1


@pytest.mark.parametrize(
    "command",
    [
        pytest.param([sys.executable, "-m", "service"], id="python -m service"),
        pytest.param(
            [sys.executable, "-c", "from service.cli import app; app(prog_name='facegate')", "serve"],
            id="facegate serve",
        ),
    ],
)
def test_the_torch_runtime_without_torch_is_refused_in_one_line(tmp_path: Path, command: list[str]) -> None:
    result = _run(command, _env(tmp_path, FACEGATE_INFERENCE_RUNTIME="torch", FACEGATE_PORT="0"))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: FACEGATE_INFERENCE_RUNTIME=torch needs the Python package 'torch'"), lines
    assert "runtime_unavailable" in lines[-1]
    assert not (tmp_path / "facegate.db").exists()  # refused before the database was touched
