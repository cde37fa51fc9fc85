"""Settings, the app factory and the ``python -m service`` entry point (no model is loaded here)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from pydantic import ValidationError

import service.__main__ as entry
import service.main
from models.package import DEFAULT_PACKAGE_PATH
from service.config import Settings, get_settings
from service.main import create_app


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """No FACEGATE_* variable from the caller's environment, a fresh settings cache, and a temporary working
    folder (the default database, ./var/facegate.db, is relative to it)."""
    for name in [n for n in os.environ if n.startswith("FACEGATE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_defaults(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.model_path is None and settings.device is None and settings.flip_tta is False
    assert settings.max_upload_bytes == 10 * 1024 * 1024
    assert settings.max_pixels == 40_000_000
    assert (settings.host, settings.port, settings.log_level) == ("127.0.0.1", 8000, "INFO")
    limits = settings.image_limits()
    assert (limits.max_bytes, limits.max_pixels) == (settings.max_upload_bytes, settings.max_pixels)


def test_environment_with_prefix(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FACEGATE_MODEL_PATH", str(DEFAULT_PACKAGE_PATH))
    clean_env.setenv("FACEGATE_FLIP_TTA", "true")
    clean_env.setenv("FACEGATE_MAX_UPLOAD_BYTES", "1234")
    clean_env.setenv("FACEGATE_LOG_LEVEL", "debug")
    settings = get_settings()
    assert settings.model_path == DEFAULT_PACKAGE_PATH
    assert settings.flip_tta is True
    assert settings.max_upload_bytes == 1234
    assert settings.log_level == "DEBUG"
    assert get_settings() is settings


@pytest.mark.parametrize("field", ["max_upload_bytes", "max_pixels"])
def test_limits_must_be_positive(clean_env: pytest.MonkeyPatch, field: str) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({field: 0})


def test_nothing_is_built_at_import() -> None:
    assert not hasattr(service.main, "app")


def test_create_app_does_not_load_the_model(clean_env: pytest.MonkeyPatch) -> None:
    app = create_app(Settings(max_upload_bytes=1000))
    assert app.state.embedder is None
    assert app.state.settings.max_upload_bytes == 1000
    assert {"/healthz", "/readyz", "/v1/faces/detect"} <= set(app.openapi()["paths"])


def _captured_run(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    calls: dict[str, Any] = {}

    def fake_run(target: str, **kwargs: Any) -> None:
        calls.update(kwargs, target=target)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return calls


def test_entry_point_defaults_to_localhost_in_factory_mode(clean_env: pytest.MonkeyPatch) -> None:
    calls = _captured_run(clean_env)
    entry.main([])
    assert calls["target"] == "service.main:create_app"
    assert calls["factory"] is True
    assert (calls["host"], calls["port"], calls["workers"]) == ("127.0.0.1", 8000, 1)
    assert Path("var/facegate.db").is_file(), "the start sequence migrated the default database first"


def test_entry_point_workers_from_env_then_arguments(clean_env: pytest.MonkeyPatch) -> None:
    calls = _captured_run(clean_env)
    clean_env.setenv("FACEGATE_WORKERS", "3")
    entry.main([])
    assert calls["workers"] == 3
    entry.main(["--workers", "2"])
    assert calls["workers"] == 2


def test_entry_point_refuses_invalid_settings_with_one_line(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("FACEGATE_WORKERS", "0")
    with pytest.raises(SystemExit) as exited:
        entry.main([])
    assert exited.value.code == 2
    assert capsys.readouterr().err == "error: FACEGATE_WORKERS: Input should be greater than or equal to 1\n"
    assert not Path("var").exists(), "refused before touching the database"


def test_entry_point_host_and_port_from_env_then_arguments(clean_env: pytest.MonkeyPatch) -> None:
    calls = _captured_run(clean_env)
    clean_env.setenv("FACEGATE_HOST", "0.0.0.0")
    clean_env.setenv("FACEGATE_PORT", "9001")
    entry.main([])
    assert (calls["host"], calls["port"]) == ("0.0.0.0", 9001)
    entry.main(["--host", "::1", "--port", "9002"])
    assert (calls["host"], calls["port"]) == ("::1", 9002)


def test_an_empty_index_path_means_memory_only(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FACEGATE_INDEX_PATH", "")
    assert Settings().index_path is None


def test_operation_ids_are_short_stable_and_unique(client: TestClient) -> None:
    """FastAPI's defaults read ``access_check_v1_access_check_post``; generated clients read the ids as method
    names. Each id is the route function's name: short, unique, and unchanged when a path moves."""
    import re

    operations = [
        (path, method, operation["operationId"])
        for path, item in client.get("/openapi.json").json()["paths"].items()
        for method, operation in item.items()
    ]
    ids = [operation_id for _, _, operation_id in operations]
    assert len(ids) == len(set(ids)), sorted(ids)
    for path, method, operation_id in operations:
        assert re.fullmatch(r"[a-z][a-z0-9_]{2,29}", operation_id), (path, method, operation_id)
        assert "v1" not in operation_id and not operation_id.endswith(("_get", "_post", "_delete")), operation_id
    assert ("/v1/access/check", "post", "access_check") in operations


def test_entry_point_waits_for_the_database_then_says_why_it_gave_up(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = _captured_run(clean_env)
    clean_env.setenv("FACEGATE_DATABASE_URL", "postgresql+psycopg://facegate:Qm7-vT2xK9pLw4Zr8sHn@127.0.0.1:1/facegate")
    clean_env.setenv("FACEGATE_DB_WAIT_S", "0.2")
    with pytest.raises(SystemExit) as exited:
        entry.main([])
    assert exited.value.code == 1 and calls == {}, "no server without its database"
    err = capsys.readouterr().err
    assert err.startswith("error: database postgresql+psycopg://facegate:***@127.0.0.1:1/facegate not reachable after")
    assert "Qm7" not in err
