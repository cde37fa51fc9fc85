"""Helpers of the command-line tests (a module with a unique name, not a conftest: tests import it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typer.testing import Result


@dataclass(frozen=True)
class CliEnv:
    """Where this test's database and index file are."""

    database_url: str
    index_path: Path
    folder: Path


Cli = Callable[..., "Result"]


def error_line(result: Result) -> str:
    """The one ``error: ...`` line a failing command printed on stderr."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def write_folder(root: Path, people: dict[str, Sequence[Path]]) -> Path:
    """``root/<external id>/<image>`` copies, the layout ``enroll-folder`` reads."""
    for name, images in people.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for image in images:
            (folder / image.name).write_bytes(image.read_bytes())
    return root
