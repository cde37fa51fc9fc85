"""On PostgreSQL the app connects as a role that may only insert and read the access log; migrations run as the
schema's owner (``database_owner_url``), which grants the app's role what it needs and no more.

Found by an attack: the service's own login owned the log table (and was a superuser in the shipped Compose), so
``ALTER TABLE … DISABLE TRIGGER`` or ``SET session_replication_role = replica`` let it rewrite or delete entries.
These run on a real private PostgreSQL cluster with two real login roles."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pg import PostgresServer
from sqlalchemy import URL, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from service.config import Settings
from service.db.models import KeyRole
from service.db.session import make_sessionmaker
from service.repositories.keys import create_key, revoke_key
from service.runtime import open_database


@dataclass(frozen=True)
class Roles:
    owner: URL
    app: URL


@pytest.fixture
def roles(postgres: PostgresServer) -> Iterator[Roles]:
    """A fresh database owned by a fresh non-superuser owner role, and a fresh app login role with no rights."""
    suffix = secrets.token_hex(3)
    owner, app = f"fg_owner_{suffix}", f"fg_app_{suffix}"
    owner_pw, app_pw = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
    url = postgres.create_database()
    admin = create_engine(postgres.admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE ROLE {owner} LOGIN PASSWORD '{owner_pw}'"))
        connection.execute(text(f"CREATE ROLE {app} LOGIN PASSWORD '{app_pw}'"))
        connection.execute(text(f'ALTER DATABASE "{url.database}" OWNER TO {owner}'))
    admin.dispose()
    yield Roles(owner=url.set(username=owner, password=owner_pw), app=url.set(username=app, password=app_pw))
    postgres.drop_database(url)
    admin = create_engine(postgres.admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP ROLE IF EXISTS {app}"))
        connection.execute(text(f"DROP ROLE IF EXISTS {owner}"))
    admin.dispose()


def _settings(roles: Roles) -> Settings:
    return Settings(
        database_url=roles.app.render_as_string(hide_password=False),
        database_owner_url=roles.owner.render_as_string(hide_password=False),
        admin_key=None,
    )


def test_the_app_role_may_only_insert_and_read_the_log(roles: Roles) -> None:
    engine, factory = open_database(_settings(roles))
    try:
        with factory.begin() as session:  # the app's ordinary work goes through
            key, _ = create_key(session, name="a", role=KeyRole.ADMIN)
            other, _ = create_key(session, name="b", role=KeyRole.ADMIN)
        with factory.begin() as session:
            revoke_key(session, key_id=other.id, caller_key_id=key.id)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO access_log (ts, door_name, decision, reason, latency_ms) "
                    "VALUES (now(), 'lab', 'granted', 'granted', 1.0)"
                )
            )
            assert connection.scalar(text("SELECT count(*) FROM access_log")) == 1
        refused = [
            "UPDATE access_log SET decision = 'denied'",
            "DELETE FROM access_log",
            "TRUNCATE access_log",
            "ALTER TABLE access_log DISABLE TRIGGER ALL",
            "ALTER TABLE access_log DISABLE TRIGGER access_log_append_only",
            "DROP TRIGGER access_log_append_only ON access_log",
            "DROP TABLE access_log",
            "SET session_replication_role = replica",
            "CREATE TABLE mine (id int)",
            "ALTER TABLE api_keys ADD COLUMN x int",
            "UPDATE alembic_version SET version_num = '0001'",
        ]
        for statement in refused:
            with engine.connect() as connection:
                with pytest.raises(DBAPIError, match=r"permission denied|must be owner|must be superuser"):
                    connection.execute(text(statement))
                connection.rollback()
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT decision FROM access_log")) == "granted"
            assert connection.scalar(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")) is False
    finally:
        engine.dispose()


def test_upgrading_again_keeps_the_grants(roles: Roles) -> None:
    """Start-up migrates and grants every time; the second start must work as the first."""
    for _ in range(2):
        engine, factory = open_database(_settings(roles))
        with factory.begin() as session:
            create_key(session, name=f"k{secrets.token_hex(2)}", role=KeyRole.AUDITOR)
        engine.dispose()
    check = make_sessionmaker(create_engine(roles.app, poolclass=NullPool))
    with check() as session:
        assert session.scalar(text("SELECT count(*) FROM api_keys")) == 2


def test_db_upgrade_reads_both_passwords_from_secret_files(
    roles: Roles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Compose deployment: neither URL holds its password; `facegate db upgrade` reads both from Docker secret
    files, migrates as the owner, grants the app's role, and stores the operator key from a third file."""
    from typer.testing import CliRunner

    from service.cli import app
    from service.domain.keys import generate_token, token_prefix

    token = generate_token()
    files = {"owner": roles.owner.password, "app": roles.app.password, "admin_key": token}
    for name, value in files.items():
        (tmp_path / name).write_text(f"{value}\n")
    for name in [n for n in os.environ if n.startswith("FACEGATE_")]:
        monkeypatch.delenv(name)

    def bare(url: URL) -> str:
        return URL.create(url.drivername, url.username, None, url.host, url.port, url.database).render_as_string()

    env = {
        "FACEGATE_DATABASE_URL": bare(roles.app),
        "FACEGATE_DATABASE_PASSWORD_FILE": str(tmp_path / "app"),
        "FACEGATE_DATABASE_OWNER_URL": bare(roles.owner),
        "FACEGATE_DATABASE_OWNER_PASSWORD_FILE": str(tmp_path / "owner"),
        "FACEGATE_ADMIN_KEY_FILE": str(tmp_path / "admin_key"),
        "FACEGATE_DB_WAIT_S": "10",
    }
    assert all(
        str(roles.owner.password) not in value and str(roles.app.password) not in value for value in env.values()
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for _ in range(2):  # every start runs it
        result = CliRunner().invoke(app, ["db", "upgrade"])
        assert result.exit_code == 0, result.stderr
        assert result.stdout.strip() == "database is at the newest schema"
    check = create_engine(roles.app, poolclass=NullPool)  # the app's role was granted what it needs
    try:
        with check.connect() as connection:
            assert list(connection.execute(text("SELECT prefix FROM api_keys")).scalars()) == [token_prefix(token)]
            owner = connection.scalar(text("SELECT tableowner FROM pg_tables WHERE tablename = 'access_log'"))
            assert owner == roles.owner.username
    finally:
        check.dispose()
