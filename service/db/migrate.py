"""Schema migrations, run from code: :func:`upgrade` brings a database to the newest revision;
:func:`wait_for_database` waits for the server at container start-up.

The scripts live in ``service/alembic``. From a shell: ``alembic upgrade head`` in the repository root
(``alembic.ini`` there; the URL comes from ``FACEGATE_DATABASE_URL``, or ``-x url=...``).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import URL, create_engine, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from service.db.grants import grant_app_role
from service.db.session import create_db_engine

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "alembic"


class DatabaseUnavailableError(RuntimeError):
    """The database did not answer within the time allowed."""


def alembic_config(url: str | URL) -> Config:
    """An Alembic configuration for ``url`` that needs no ``alembic.ini``.

    The URL travels in ``config.attributes`` rather than the ini options, where a ``%`` in a password
    would be taken for interpolation.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = make_url(url)
    return config


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (default: the newest)."""
    logger.info("migrating %s to %s", _safe(url), revision)
    command.upgrade(alembic_config(url), revision)


def upgrade_and_grant(database_url: str | URL, owner_url: str | URL | None) -> None:
    """Migrate to the newest revision as the schema's owner (``owner_url``, else ``database_url``); with an owner,
    grant ``database_url``'s role the app's privileges (:func:`service.db.grants.grant_app_role`)."""
    if owner_url is None:
        upgrade(database_url)
        return
    upgrade(owner_url)
    role = make_url(database_url).username
    if make_url(owner_url).get_backend_name() == "postgresql" and role:
        grant_app_role(owner_url, role)


def downgrade(url: str | URL, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``"base"``: an empty database)."""
    logger.info("migrating %s down to %s", _safe(url), revision)
    command.downgrade(alembic_config(url), revision)


def wait_for_database(url: str | URL, timeout_s: float, *, interval_s: float = 0.5) -> None:
    """Return once ``SELECT 1`` succeeds on ``url``; retry connection failures until ``timeout_s`` has passed.

    Raises :class:`DatabaseUnavailableError` (naming the URL without its password, and the last error) when
    the time is up. For a container that starts before its database server.
    """
    if timeout_s < 0 or interval_s <= 0:
        raise ValueError("timeout_s must be >= 0 and interval_s > 0")
    url = make_url(url)
    deadline = time.monotonic() + timeout_s
    attempts = 0
    while True:
        attempts += 1
        remaining = deadline - time.monotonic()
        if url.get_backend_name() == "sqlite":
            engine = create_db_engine(url)  # creates the file's folder, as the service's own engine will
        else:
            # libpq's own limit for one attempt, so that an unanswered SYN cannot outlast the deadline by much.
            connect_args = {"connect_timeout": max(2, math.ceil(remaining))}
            engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            logger.info("database %s is up (attempt %d)", _safe(url), attempts)
            return
        except DBAPIError as exc:
            last_error = str(exc.orig).strip() or type(exc.orig).__name__
        finally:
            engine.dispose()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DatabaseUnavailableError(
                f"database {_safe(url)} not reachable after {timeout_s:g} s ({attempts} attempts): {last_error}"
            )
        logger.info("waiting for database %s: %s", _safe(url), last_error)
        time.sleep(min(interval_s, remaining))


def _safe(url: str | URL) -> str:
    return make_url(url).render_as_string(hide_password=True)
