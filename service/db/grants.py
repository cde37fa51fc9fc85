"""PostgreSQL privileges of the app's own role: it may read and write the tables the service manages, and only
insert and read the access log.

Migrations run as the schema's owner (``database_owner_url``); the app connects as another role
(``database_url``). A role that does not own a table cannot ``ALTER`` it (so it cannot disable the log's triggers),
and a role that is not a superuser cannot ``SET session_replication_role`` (which would skip them): with both,
the append-only guard holds against the application itself, not only against its bugs. SQLite has no roles:
there, the triggers guard against the application's code paths, not against a process that opens the file.
"""

from __future__ import annotations

import logging
from typing import Final

from sqlalchemy import URL, Connection, create_engine, make_url, text
from sqlalchemy.pool import NullPool

logger = logging.getLogger(__name__)

# Read and append only; everything else the service manages is read-write for the app.
APPEND_ONLY_TABLES: Final = ("access_log",)
READ_ONLY_TABLES: Final = ("alembic_version",)


def grant_app_role(owner_url: str | URL, role: str) -> None:
    """As the owner at ``owner_url``, give ``role`` exactly the privileges the service needs (idempotent).

    Every grant is revoked first, so a role that was given more by hand (or by an older version) is brought back
    to this set. PostgreSQL only; nothing to do on SQLite.
    """
    url = make_url(owner_url)
    if url.get_backend_name() != "postgresql":
        return
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            _grant(connection, role)
    finally:
        engine.dispose()
    logger.info("granted role %s the app's privileges (access log: SELECT, INSERT)", role)


def _grant(connection: Connection, role: str) -> None:
    quoted = connection.dialect.identifier_preparer.quote(role)
    tables = list(connection.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")))
    connection.execute(text(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {quoted}"))
    connection.execute(text(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {quoted}"))
    # PUBLIC may create objects in the public schema before PostgreSQL 15; the app must not.
    connection.execute(text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
    connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {quoted}"))
    for table in tables:
        if table in APPEND_ONLY_TABLES:
            privileges = "SELECT, INSERT"
        elif table in READ_ONLY_TABLES:
            privileges = "SELECT"
        else:
            privileges = "SELECT, INSERT, UPDATE, DELETE"
        connection.execute(text(f'GRANT {privileges} ON TABLE "{table}" TO {quoted}'))
    connection.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}"))


def warn_if_privileged(connection: Connection) -> None:
    """Log a warning when the app's connection is a superuser or owns the access log: the log's guard is then
    only as strong as the application's own code."""
    if connection.dialect.name != "postgresql":
        return
    row = connection.execute(
        text(
            "SELECT r.rolsuper, pg_has_role(current_user, t.tableowner, 'USAGE') "
            "FROM pg_roles r LEFT JOIN pg_tables t ON t.tablename = 'access_log' AND t.schemaname = current_schema() "
            "WHERE r.rolname = current_user"
        )
    ).one_or_none()
    if row is not None and (row[0] or row[1]):
        logger.warning(
            "the app connects to PostgreSQL as %s, which %s: it could rewrite the access log. Connect as a role "
            "that owns nothing and set FACEGATE_DATABASE_OWNER_URL for migrations (docs/OPERATIONS.md)",
            connection.scalar(text("SELECT current_user")),
            "is a superuser" if row[0] else "owns the access log",
        )
