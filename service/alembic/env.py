"""Alembic environment of facegate.

The URL is, first found: ``config.attributes["url"]`` (set by :mod:`service.db.migrate`), ``-x url=...`` on the
command line, ``sqlalchemy.url`` in the ini file, then the service's settings (``FACEGATE_DATABASE_URL``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import URL, make_url

from service.config import get_settings
from service.db.models import Base
from service.db.session import create_db_engine

config = context.config
target_metadata = Base.metadata


def _url() -> URL:
    given = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    given = given or config.get_main_option("sqlalchemy.url") or get_settings().database_url
    return make_url(given)


def run_migrations_offline() -> None:
    """Write the SQL to stdout (``alembic upgrade head --sql``) instead of running it."""
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = _url()
    sqlite = url.get_backend_name() == "sqlite"
    engine = create_db_engine(url, sqlite_foreign_keys=False)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=sqlite,  # SQLite alters tables by copying them
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
