"""scripts/container-start, the image's entrypoint, run as the image runs it (with the venv's facegate on PATH)
against a real PostgreSQL: it waits for the database, migrates it, stores the operator's admin key, serves with
several workers until SIGTERM; and it refuses to start, with one clear line, on a placeholder secret. The script
only dispatches to `facegate serve`, `facegate db upgrade` or another command: these tests hold the start
sequence (service/startup.py) and the settings' checks (service/config.py) to what the image promises."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from pg import PostgresServer, postgres_server
from sqlalchemy import URL, create_engine, text
from sqlalchemy.pool import NullPool

from service.db.migrate import alembic_config
from service.domain.keys import generate_token, token_prefix

REPO = Path(__file__).resolve().parents[2]
START = REPO / "scripts" / "container-start"
READY_TIMEOUT_S = 120
STOP_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL server, as tests/service/conftest.py's fixture: skipped without server binaries, a
    failure under FACEGATE_REQUIRE_PG=1 (CI)."""
    try:
        with postgres_server() as server:
            yield server
        return
    except FileNotFoundError as exc:
        reason = str(exc)
    if os.environ.get("FACEGATE_REQUIRE_PG", "").strip().lower() in ("1", "true", "yes"):
        pytest.fail(f"FACEGATE_REQUIRE_PG=1 but {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of a container: none of the caller's FACEGATE_* variables, the venv's bin first on PATH
    (where the image has /opt/venv/bin), the working folder's index and SQLite files under ``tmp_path``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FACEGATE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        OMP_WAIT_POLICY="PASSIVE",
        OMP_NUM_THREADS="1",
        FACEGATE_HOST="127.0.0.1",
        FACEGATE_INDEX_PATH=str(tmp_path / "index" / "index.fgi"),
        FACEGATE_DATABASE_URL=f"sqlite:///{tmp_path / 'facegate.db'}",
        FACEGATE_RATE_LIMIT_PER_MINUTE="0",
    )
    env.update(settings)
    return env


def run_start(env: dict[str, str], cwd: Path, timeout_s: float = 60, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(START), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout_s)


# -- it serves ----------------------------------------------------------------------------------------------------


def test_waits_migrates_serves_with_two_workers_and_stops_on_sigterm(postgres: PostgresServer, tmp_path: Path) -> None:
    database = postgres.create_database("deploy")
    try:
        serve_and_stop(database, tmp_path)
    finally:
        postgres.drop_database(database)


def serve_and_stop(database: URL, tmp_path: Path) -> None:
    token, port = generate_token(), free_port()
    # The password reaches the service as a Docker secret would: a file, not in the URL.
    password_file = tmp_path / "db_password"
    password_file.write_text(f"{database.password}\n")
    url_without_password = without_password(database)
    env = start_env(
        tmp_path,
        FACEGATE_DATABASE_URL=url_without_password,
        FACEGATE_DATABASE_PASSWORD_FILE=str(password_file),
        FACEGATE_ADMIN_KEY=token,
        FACEGATE_PORT=str(port),
        FACEGATE_WORKERS="2",
        FACEGATE_DB_WAIT_S="20",
    )
    if os.environ.get("FACEGATE_TEST_PG_URL"):  # a server of someone else's, whose password is not ours to judge
        env["FACEGATE_ALLOW_INSECURE_DB_PASSWORD"] = "1"
    log = tmp_path / "container.log"
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        process = subprocess.Popen([str(START)], env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(process, f"{base}/readyz", log)

        engine = create_engine(database, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
                prefixes = set(connection.execute(text("SELECT prefix FROM api_keys")).scalars())
        finally:
            engine.dispose()
        head = ScriptDirectory.from_config(alembic_config(database)).get_current_head()
        assert version == head, "the schema was migrated to the newest revision"
        assert prefixes == {token_prefix(token)}, "the operator key was stored once"

        # Both workers answer the admin key (several requests: uvicorn's workers share the socket).
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, timeout=10) as client:
            for _ in range(6):
                response = client.get("/v1/doors", headers=headers)
                assert response.status_code == 200, response.text
                assert response.json()["total"] == 0
            assert client.get("/v1/doors").status_code == 401
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f"no exit within {STOP_TIMEOUT_S} s of SIGTERM:\n{log.read_text()}")
    output = log.read_text()
    # uvicorn shuts down gracefully, then (one process) re-raises SIGTERM or (a supervisor of workers) exits 0.
    assert code in (0, -signal.SIGTERM), f"exit status {code}:\n{output}"
    assert output.count("Application shutdown complete") == 2, output
    assert "starting facegate on 127.0.0.1" in output and "with 2 worker(s)" in output
    assert str(database.password) not in output, "the database password was logged"
    assert token not in output, "the admin key was logged"
    assert (tmp_path / "index" / "index.fgi").is_file(), "the index was saved where FACEGATE_INDEX_PATH says"


def without_password(database: URL) -> str:
    bare = URL.create(database.drivername, database.username, None, database.host, database.port, database.database)
    return bare.render_as_string(hide_password=False)


def wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"container-start exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"{url} not ready within {READY_TIMEOUT_S} s:\n{log.read_text()}")


# -- it refuses ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"FACEGATE_ADMIN_KEY": "changeme"}, "FACEGATE_ADMIN_KEY refused: the secret has 8 characters"),
        ({"FACEGATE_ADMIN_KEY": "changeme-changeme-changeme-changeme"}, "FACEGATE_ADMIN_KEY refused: the secret looks"),
        (
            {"FACEGATE_ADMIN_KEY": None, "FACEGATE_ADMIN_KEY_FILE": "{tmp}/no-such-secret"},
            "FACEGATE_ADMIN_KEY_FILE: cannot read",
        ),
        (
            {"FACEGATE_DATABASE_URL": "postgresql+psycopg://facegate:postgres@127.0.0.1:9/facegate"},
            "the database password has 8 characters",
        ),
        (
            {
                "FACEGATE_DATABASE_URL": "postgresql+psycopg://facegate@127.0.0.1:9/facegate",
                "FACEGATE_DATABASE_PASSWORD_FILE": "{tmp}/db_password_changeme",
            },
            "the database password looks like a placeholder",
        ),
        ({"FACEGATE_DATABASE_PASSWORD_FILE": "{tmp}/empty"}, "FACEGATE_DATABASE_PASSWORD_FILE: {tmp}/empty is empty"),
        ({"FACEGATE_KEEP_CROPS": "true"}, "FACEGATE_KEEP_CROPS needs FACEGATE_CROP_KEY"),
        ({"FACEGATE_WORKERS": "0"}, "FACEGATE_WORKERS: Input should be greater than or equal to 1"),
        (
            {"FACEGATE_CROP_KEY": "x" * 44, "FACEGATE_CROP_KEY_FILE": "{tmp}/db_password_changeme"},
            "both FACEGATE_CROP_KEY and FACEGATE_CROP_KEY_FILE are set: keep one",
        ),
    ],
    ids=[
        "short-admin-key",
        "placeholder-admin-key",
        "missing-admin-key-file",
        "placeholder-db-password",
        "placeholder-db-password-file",
        "empty-secret-file",
        "invalid-settings",
        "no-workers",
        "secret-given-twice",
    ],
)
def test_refuses_to_start(tmp_path: Path, settings: dict[str, str | None], expected: str) -> None:
    (tmp_path / "db_password_changeme").write_text("changeme-changeme-changeme\n")
    (tmp_path / "empty").write_text("\n")
    env = start_env(tmp_path, FACEGATE_ADMIN_KEY=generate_token(), FACEGATE_PORT=str(free_port()))
    for key, value in settings.items():
        if value is None:
            del env[key]
        else:
            env[key] = value.format(tmp=tmp_path)
    result = run_start(env, tmp_path, timeout_s=30)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [lines[-1]] and lines[-1].startswith("error: "), result.stderr
    assert expected.format(tmp=tmp_path) in lines[-1]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "facegate.db").exists(), "refused before touching the database"
    assert not (tmp_path / "index").exists()


def test_an_insecure_db_password_may_be_allowed_explicitly(tmp_path: Path) -> None:
    """FACEGATE_ALLOW_INSECURE_DB_PASSWORD=1 lets it past the check (with a warning): it then waits for the
    database, here one that is not there, and fails on that instead."""
    env = start_env(
        tmp_path,
        FACEGATE_ADMIN_KEY=generate_token(),
        FACEGATE_DATABASE_URL=f"postgresql+psycopg://facegate:postgres@127.0.0.1:{free_port()}/facegate",
        FACEGATE_ALLOW_INSECURE_DB_PASSWORD="1",
        FACEGATE_DB_WAIT_S="0.5",
    )
    result = run_start(env, tmp_path)
    assert result.returncode == 1, result.stderr
    assert "WARNING service.startup: FACEGATE_DATABASE_URL: the database password has 8 characters" in result.stderr
    assert "accepted because FACEGATE_ALLOW_INSECURE_DB_PASSWORD=1" in result.stderr
    assert "not reachable after 0.5 s" in result.stderr
    assert "postgres@" not in result.stderr, "the password was printed"
    assert result.stderr.strip().splitlines()[-1].startswith("error: database postgresql+psycopg://facegate:***@")


def test_prepare_and_other_commands_read_the_secret_files(postgres: PostgresServer, tmp_path: Path) -> None:
    """`container-start prepare` (a migration job) and `docker compose run --rm api facegate ...` reach the
    database with the password of FACEGATE_DATABASE_PASSWORD_FILE: facegate reads the secret file itself."""
    database = postgres.create_database("deploy")
    try:
        password_file = tmp_path / "db_password"
        password_file.write_text(f"{database.password}\n")
        env = start_env(
            tmp_path,
            FACEGATE_DATABASE_URL=without_password(database),
            FACEGATE_DATABASE_PASSWORD_FILE=str(password_file),
            FACEGATE_ADMIN_KEY=generate_token(),
        )
        if os.environ.get("FACEGATE_TEST_PG_URL"):
            env["FACEGATE_ALLOW_INSECURE_DB_PASSWORD"] = "1"
        prepared = run_start(env, tmp_path, 120, "prepare")
        assert prepared.returncode == 0, prepared.stderr
        assert prepared.stdout.strip() == "database is at the newest schema"
        result = subprocess.run(
            [str(START), "facegate", "db", "info", "--json"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        info = json.loads(result.stdout)
        assert info["current"] is True and info["url"].endswith(f"/{database.database}")
        assert str(database.password) not in result.stdout + result.stderr + prepared.stderr
    finally:
        postgres.drop_database(database)
