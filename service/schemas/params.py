"""Strict numbers in paths, queries and forms.

FastAPI hands pydantic these as strings, and pydantic's lax mode reads ``"1.0"`` as 1 and ``"1_0"`` as 10 (Python's
``int()`` also takes ``"+1"``, ``" 1"`` and full-width digits): ``DELETE /v1/people/1.0`` deleted person 1.
:data:`Digits` accepts the ASCII digits 0-9 and nothing else; every integer parameter of the API uses it.
JSON bodies use ``Field(strict=True)`` integers instead (:data:`service.schemas.rights.Id`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator

MAX_DIGITS = 19  # more than any id or count here; keeps int() on a huge string off the table


def _digits_only(value: object) -> object:
    if isinstance(value, str) and not (value.isascii() and value.isdigit() and len(value) <= MAX_DIGITS):
        raise ValueError("must be a whole number written with the digits 0-9 only")
    return value


Digits = Annotated[int, BeforeValidator(_digits_only)]
