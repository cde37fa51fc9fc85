"""Which database the command line uses, and that only ``facegate db upgrade`` creates or migrates one.

The first tests run the installed ``facegate`` console script in a subprocess, from a folder of their own, as a new
user would: the default database ``sqlite:///./var/facegate.db`` is relative to the working folder, so run from
elsewhere it names a file that is not there, and every command must say so (exit 4) instead of creating a new,
empty database that answers "no people".
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import Cli, CliEnv, error_line

from service.cli.context import EXIT_NO_DATABASE
from service.db.migrate import downgrade
from service.db.presence import head_revision

REPO_ROOT = Path(__file__).resolve().parents[3]
FACEGATE = Path(sys.executable).with_name("facegate")


def _run(cwd: Path, *args: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")}
    env.update(PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS="1")
    if database_url is not None:
        env["FACEGATE_DATABASE_URL"] = database_url
    return subprocess.run([str(FACEGATE), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def test_a_command_run_from_another_folder_creates_no_database(elsewhere: Path) -> None:
    listed = _run(elsewhere, "people", "list")
    assert listed.returncode == EXIT_NO_DATABASE, listed
    assert listed.stdout == ""
    expected = elsewhere / "var" / "facegate.db"
    assert listed.stderr.strip() == (
        f"error: no facegate database at sqlite:///./var/facegate.db ({expected}): create it with "
        "`facegate db upgrade`, or set FACEGATE_DATABASE_URL to the service's database"
    )
    assert list(elsewhere.iterdir()) == []  # nothing created: no var/, no empty database

    info = _run(elsewhere, "db", "info")
    assert info.returncode == EXIT_NO_DATABASE, info
    assert f"file:     {expected}" in info.stdout and "exists:   False" in info.stdout
    assert "from:     default" in info.stdout
    assert list(elsewhere.iterdir()) == []


def test_db_upgrade_creates_it_and_every_command_can_name_it(elsewhere: Path, tmp_path: Path) -> None:
    assert _run(elsewhere, "db", "upgrade").returncode == 0
    created = elsewhere / "var" / "facegate.db"
    assert created.is_file()
    listed = _run(elsewhere, "--verbose", "people", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "no people"
    assert f"database: sqlite:///./var/facegate.db = {created} (schema {head_revision()})" in listed.stderr

    # From any other folder, FACEGATE_DATABASE_URL names the same database.
    url = f"sqlite:///{created}"
    other = tmp_path / "other"
    other.mkdir()
    added = _run(other, "people", "add", "E-1", "Ada", database_url=url)
    assert added.returncode == 0, added.stderr
    assert "E-1" in _run(elsewhere, "people", "list").stdout
    info = _run(other, "db", "info", "--json", database_url=url)
    assert (
        info.returncode == 0 and '"from": "FACEGATE_DATABASE_URL"' in info.stdout and '"current": true' in info.stdout
    )
    assert list(other.iterdir()) == []


def test_an_empty_or_older_database_is_refused_not_migrated(cli: Cli, cli_env: CliEnv) -> None:
    path = cli_env.folder / "facegate.db"
    path.unlink()
    sqlite3.connect(path).close()  # a file, but not a facegate database
    line = error_line(cli("doors", "list", code=EXIT_NO_DATABASE))
    assert line.startswith(f"error: sqlite:///{path} ({path}) has no facegate schema: create it with")
    assert cli("db", "info", code=EXIT_NO_DATABASE).stdout.splitlines()[4] == "revision: —"

    cli("db", "upgrade")
    downgrade(cli_env.database_url, "0001")
    line = error_line(cli("log", code=EXIT_NO_DATABASE))
    assert line.endswith(f"is at schema 0001, this facegate needs {head_revision()}: run `facegate db upgrade`")
    with sqlite3.connect(path) as connection:  # and the refusing command did not migrate it
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
    cli("db", "upgrade")
    assert cli("log").stdout.strip() == "no entries"


def test_the_head_revision_read_without_alembic_is_alembics() -> None:
    from alembic.script import ScriptDirectory

    from service.db.migrate import alembic_config

    assert head_revision() == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_sql_only_commands_import_neither_torch_nor_alembic(cli: Cli, cli_env: CliEnv) -> None:
    """What makes a listing slow to start is importing torch (seconds) and Alembic; a listing needs neither."""
    probe = (
        "import sys\n"
        "from service.cli import app\n"
        "app(['people', 'list'], standalone_mode=False)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'alembic', 'onnxruntime', 'faiss', 'cv2'}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEGATE_")}
    env.update(PYTHONPATH=str(REPO_ROOT), FACEGATE_DATABASE_URL=cli_env.database_url)
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["no people", "[]"]


def test_db_upgrade_stores_the_operators_admin_key_once(
    cli: Cli, cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.domain.keys import generate_token

    path = cli_env.folder / "facegate.db"
    path.unlink()
    token = generate_token()
    monkeypatch.setenv("FACEGATE_ADMIN_KEY", token)
    for _ in range(2):  # the start sequence runs it at every start
        assert cli("db", "upgrade").stdout.strip() == "database is at the newest schema"
        with sqlite3.connect(path) as connection:
            rows = connection.execute("SELECT role, revoked_at FROM api_keys").fetchall()
        assert rows == [("admin", None)]
