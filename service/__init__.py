"""facegate's service: the FastAPI app, its configuration and (later) storage, index and access policy.

Nothing here runs on import: :func:`service.main.create_app` builds the app, ``python -m service`` serves it.
``service`` imports ``models`` and never ``training``.
"""
