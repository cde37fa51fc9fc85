"""facegate's service: the FastAPI app, its configuration, SQL storage (SQLAlchemy + Alembic), the vector index,
the access policy and the admin CLI.

Nothing here runs on import: :func:`service.main.create_app` builds the app, ``python -m service`` serves it.
``service`` imports ``models`` and never ``training``.
"""
