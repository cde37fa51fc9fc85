"""The minimal ``facegate`` command line: ``db upgrade`` and ``keys create`` on a real database; the created key
works over HTTP; errors exit non-zero with a one-line message."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.db.session import create_db_engine, make_sessionmaker
from service.repositories.keys import authenticate

runner = CliRunner()


@pytest.fixture
def db_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    for name in ("FACEGATE_ADMIN_KEY", "FACEGATE_ADMIN_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FACEGATE_DATABASE_URL", url)
    return url


def test_upgrade_then_create_an_admin_key(db_env: str) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["keys", "create", "--role", "admin", "--name", "first"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("fg_")
    engine = create_db_engine(db_env)
    try:
        with make_sessionmaker(engine)() as session:
            principal = authenticate(session, token=token)
    finally:
        engine.dispose()
    assert principal is not None and principal.role.value == "admin" and principal.name == "first"


def test_terminal_key_needs_an_existing_door(db_env: str) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["keys", "create", "--role", "terminal"])
    assert result.exit_code == 1 and "at least one door" in result.output
    result = runner.invoke(app, ["keys", "create", "--role", "terminal", "--door", "7"])
    assert result.exit_code == 1 and "door 7 does not exist" in result.output


def test_unknown_role_is_a_usage_error(db_env: str) -> None:
    result = runner.invoke(app, ["keys", "create", "--role", "root"])
    assert result.exit_code == 2
