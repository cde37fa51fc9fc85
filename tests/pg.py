"""A private, throwaway PostgreSQL server for tests: its own cluster in a temporary folder, listening on
127.0.0.1 on a free port (and a Unix socket in that folder), with a random password, removed afterwards.

It uses Debian's server binaries (``/usr/lib/postgresql/<version>/bin``; ``scripts/install-postgres`` installs
them), ``FACEGATE_PG_BINDIR`` if set, else ``initdb`` on PATH. PostgreSQL refuses to run as root, so under root
the server runs as the ``postgres`` OS user (``runuser``). Durability is switched off: it is a test server.

``FACEGATE_TEST_PG_URL`` (e.g. ``postgresql+psycopg://postgres:pw@db:5432/postgres``) names an existing server
to use instead; each test database is then created and dropped on it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import URL, create_engine, make_url, text
from sqlalchemy.pool import NullPool

SUPERUSER = "postgres"
START_TIMEOUT_S = 30


def find_bindir() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl``: the newest Debian cluster version, or PATH. None if absent."""
    given = os.environ.get("FACEGATE_PG_BINDIR")
    if given:
        return Path(given) if (Path(given) / "initdb").is_file() else None
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One running server; :meth:`create_database` hands out fresh databases on it."""

    def __init__(self, admin_url: URL) -> None:
        self.admin_url = admin_url
        self._counter = 0

    def create_database(self, prefix: str = "test", *, template: URL | None = None) -> URL:
        """A new database, empty or a copy of ``template`` (which nobody may be connected to); its URL."""
        self._counter += 1
        name = f"{prefix}_{os.getpid()}_{self._counter}_{secrets.token_hex(3)}"
        copy = f' TEMPLATE "{template.database}"' if template is not None else ""
        self._admin(f'CREATE DATABASE "{name}"{copy}')
        return self.admin_url.set(database=name)

    def drop_database(self, url: URL) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')

    def _admin(self, sql: str) -> None:
        engine = create_engine(self.admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(sql))
        finally:
            engine.dispose()


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Start a throwaway server (or use ``FACEGATE_TEST_PG_URL``); stop and delete it on exit.

    Raises :class:`FileNotFoundError` when no server binaries are found, :class:`RuntimeError` when it fails
    to start (with its log).
    """
    external = os.environ.get("FACEGATE_TEST_PG_URL")
    if external:
        yield PostgresServer(make_url(external))
        return
    bindir = find_bindir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found; run scripts/install-postgres")
    with contextlib.ExitStack() as stack:
        yield PostgresServer(_start_cluster(bindir, stack))


def _start_cluster(bindir: Path, stack: contextlib.ExitStack) -> URL:
    """Create and start a cluster; register its stop and removal on ``stack``; the superuser's URL."""
    as_user: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise FileNotFoundError("running as root and no 'postgres' OS user to run the server as") from None
        as_user = ["runuser", "-u", "postgres", "--"]

    # Not under pytest's tmp_path: its parents are private to root, and the server user must reach this folder.
    root = Path(tempfile.mkdtemp(prefix="facegate-pg-"))
    stack.callback(shutil.rmtree, root, ignore_errors=True)
    password = secrets.token_urlsafe(18)
    (root / "pwfile").write_text(password + "\n")
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
        os.chown(root / "pwfile", owner.pw_uid, owner.pw_gid)
    data, log = root / "data", root / "server.log"

    def run(*args: str) -> None:
        result = subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=START_TIMEOUT_S)
        if result.returncode != 0:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed:\n{result.stdout}{result.stderr}{server_log}")

    initdb = [str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--pwfile", str(root / "pwfile")]
    run(*initdb, "-E", "UTF8", "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
    pg_ctl = str(bindir / "pg_ctl")
    for attempt in range(3):  # the free port may be taken between choosing it and binding it
        port = _free_port()
        options = f"-k {root} -h 127.0.0.1 -p {port} -F -c full_page_writes=off -c synchronous_commit=off"
        try:
            run(pg_ctl, "-D", str(data), "-l", str(log), "-w", "-t", str(START_TIMEOUT_S), "-o", options, "start")
            break
        except RuntimeError:
            if attempt == 2:
                raise
    stack.callback(_quiet_stop, [*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"])
    return URL.create("postgresql+psycopg", SUPERUSER, password, "127.0.0.1", port, "postgres")


def _quiet_stop(command: list[str]) -> None:
    subprocess.run(command, capture_output=True, timeout=START_TIMEOUT_S, check=False)
