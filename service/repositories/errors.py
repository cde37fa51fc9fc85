"""Typed storage errors. Each carries a stable ``code``; the API maps the classes to HTTP statuses."""

from __future__ import annotations


class StorageError(Exception):
    """Base of the errors the repositories raise on purpose."""

    code = "storage_error"
    # Per-item reasons for the API's problem ``errors``: ((location...), code).
    field_errors: list[tuple[tuple[str | int, ...], str]] = []  # noqa: RUF012 - read-only default


class NotFoundError(StorageError):
    """The addressed row does not exist."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key!r} does not exist")
        self.kind = kind
        self.key = key
        self.code = f"{kind}_not_found"


class ConflictError(StorageError):
    """The change would break a uniqueness rule (an external id, a name taken)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class InvalidValueError(StorageError):
    """A value that the schema's types allow but the data rules do not (an empty window, until before from)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
