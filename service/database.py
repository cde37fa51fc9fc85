"""Opening the database as a running facegate does: migrated first when ``migrate_on_start``, the operator's
first admin key stored. Without torch or the index, so that the command line's SQL-only commands answer at once
(:mod:`service.runtime` builds on it and re-exports it)."""

from __future__ import annotations

import logging

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.db.grants import warn_if_privileged
from service.db.session import create_db_engine, make_sessionmaker
from service.repositories.errors import ConflictError
from service.repositories.keys import ensure_operator_key

logger = logging.getLogger(__name__)


def open_database(settings: Settings) -> tuple[Engine, sessionmaker[Session]]:
    """The engine and session factory of ``settings.database_url``, migrated first when ``migrate_on_start``,
    with the operator's first admin key stored (when one is configured)."""
    owner_url = settings.database_owner_url.get_secret_value() if settings.database_owner_url else None
    if settings.migrate_on_start:
        from service.db.migrate import upgrade_and_grant  # Alembic: only when migrating

        upgrade_and_grant(settings.database_url, owner_url)
    engine = create_db_engine(settings.database_url)
    with engine.connect() as connection:
        warn_if_privileged(connection)
    factory = make_sessionmaker(engine)
    token = settings.first_admin_key()
    if token is not None:
        store_operator_key(factory, token)
    return engine, factory


def store_operator_key(factory: sessionmaker[Session], token: str) -> None:
    """Store the operator's admin key ``token`` unless it is there. Two processes doing it at once both succeed."""
    for attempt in (1, 2):
        try:
            with factory.begin() as session:
                if ensure_operator_key(session, token=token):
                    logger.info("stored the operator's admin key from the configuration")
            return
        except (IntegrityError, ConflictError):
            # Another process stored the same key between our look and our insert (the insert's own check saw
            # it: key_exists, or the unique prefix refused it): the second look finds it.
            if attempt == 2:
                raise
