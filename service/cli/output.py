"""How commands print: aligned plain-text tables for people, JSON (the HTTP API's schemas) for scripts, CSV for
spreadsheets.

Tables are plain text on purpose: they survive ``| less``, ``grep`` and a log file, and their columns do not
depend on the terminal's width. JSON goes through the same pydantic schemas as the API's answers, so a script
written against ``curl`` reads ``facegate ... --json`` unchanged.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import typer
from pydantic import BaseModel

EMPTY = "-"


def cell(value: object) -> str:
    """One table cell: ``-`` for nothing, instants in UTC to the second, floats to three decimals."""
    if value is None:
        return EMPTY
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def when(value: datetime | None) -> str:
    """An instant as ``2025-06-01 08:00:00Z`` (stored instants are UTC)."""
    if value is None:
        return EMPTY
    text = value.isoformat(sep=" ", timespec="seconds")
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """``headers`` and ``rows`` as left-aligned columns separated by two spaces."""
    cells = [[cell(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(t.ljust(w) for t, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def echo_table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, empty: str = "(none)") -> None:
    """Print a table, or ``empty`` when there is no row (a header alone reads like an error)."""
    rows = list(rows)
    typer.echo(table(headers, rows) if rows else empty)


def echo_pairs(pairs: Iterable[tuple[str, object]]) -> None:
    """A record as ``name: value`` lines, the names aligned (for ``show`` and ``info``)."""
    pairs = list(pairs)
    width = max((len(name) for name, _ in pairs), default=0)
    for name, value in pairs:
        typer.echo(f"{(name + ':').ljust(width + 1)} {cell(value)}")


def jsonable(value: Any) -> Any:
    """``value`` with every pydantic model dumped in JSON mode (instants as ISO 8601 text)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def echo_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout."""
    typer.echo(json.dumps(jsonable(value), indent=2, ensure_ascii=False))


def csv_text(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """CSV with a header line; instants in ISO 8601, nothing as an empty field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow(["" if v is None else v.isoformat() if isinstance(v, datetime) else _csv_value(v) for v in row])
    return buffer.getvalue()


def _csv_value(value: object) -> object:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value
