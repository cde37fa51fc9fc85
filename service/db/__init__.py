"""SQL storage: the schema (:mod:`service.db.models`), engines and sessions (:mod:`service.db.session`) and
migrations (:mod:`service.db.migrate`, scripts in ``service/alembic``). SQLite by default, PostgreSQL supported."""
