"""The installed size of what the service needs without PyTorch, against the whole environment (issue 13).

Reads ``pyproject.toml``'s ``[project] dependencies``, drops ``--without`` (torch, torchvision; facenet-pytorch is
installed beside them by scripts/bootstrap), walks the rest's requirements through the installed distributions'
metadata (extras asked for included, environment markers evaluated), and sums the bytes of the files each
distribution's RECORD lists (files that exist, each counted once). Also sums what the left-out packages bring that
nothing else needs (nvidia-*, triton, sympy, ...), the ``train`` extra, and every file under the environment.

    .venv/bin/python bench/install_size.py --out bench/results/install_size-2026-12-02.json

Nothing is installed or downloaded: it measures the environment it runs in.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import sys
import tomllib
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
TORCH_SIDE = ("torch", "torchvision", "facenet-pytorch")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> dict[str, metadata.Distribution]:
    """Every distribution of this environment by canonical name."""
    return {canonical(d.metadata["Name"]): d for d in metadata.distributions()}


def closure(roots: Iterable[str], dists: dict[str, metadata.Distribution]) -> set[str]:
    """The installed distributions ``roots`` (requirement strings) need, transitively."""
    walked: set[tuple[str, frozenset[str]]] = set()
    todo = [Requirement(r) for r in roots]
    while todo:
        req = todo.pop()
        name, extras = canonical(req.name), frozenset(req.extras)
        if name not in dists or (name, extras) in walked:
            continue  # not installed here (a marker for another platform, an optional extra), or done
        walked.add((name, extras))
        for raw in dists[name].requires or []:
            sub = Requirement(raw)
            wanted = ["", *sorted(extras)]
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in wanted):
                todo.append(sub)
    return {name for name, _ in walked}


def files_bytes(names: Iterable[str], dists: dict[str, metadata.Distribution], counted: set[Path]) -> int:
    """Bytes of the files the distributions' RECORDs list, each file once across calls (``counted``)."""
    total = 0
    for name in names:
        for file in dists[name].files or []:
            path = Path(str(dists[name].locate_file(file))).resolve()
            if path in counted or not path.is_file():
                continue
            counted.add(path)
            total += path.stat().st_size
    return total


def tree_bytes(root: Path) -> int:
    total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if not path.is_symlink():
                total += path.stat().st_size
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dists = installed()
    deps: list[str] = project["dependencies"]
    service_roots = [d for d in deps if canonical(Requirement(d).name) not in TORCH_SIDE]
    service = closure(service_roots, dists)
    everything_service = closure([*deps, "facenet-pytorch"], dists)
    torch_only = everything_service - service
    train = closure(project["optional-dependencies"]["train"], dists) - everything_service
    counted: set[Path] = set()
    sizes = {name: files_bytes([name], dists, counted) for name in sorted(everything_service | train)}
    prefix = Path(sys.prefix).resolve()
    venv_total = tree_bytes(prefix)

    def mib(n: int) -> float:
        return round(n / 2**20, 1)

    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": platform.platform(),
        "python": platform.python_version(),
        "venv": str(prefix),
        "venv_mib": mib(venv_total),
        "service_without_torch_mib": mib(sum(sizes[n] for n in service)),
        "torch_side_mib": mib(sum(sizes[n] for n in torch_only)),
        "train_extra_mib": mib(sum(sizes[n] for n in train)),
        "service_packages": {n: mib(sizes[n]) for n in sorted(service, key=lambda n: -sizes[n])},
        "torch_side_packages": {n: mib(sizes[n]) for n in sorted(torch_only, key=lambda n: -sizes[n])},
        "train_packages": {n: mib(sizes[n]) for n in sorted(train, key=lambda n: -sizes[n])},
        "method": "sum of the sizes of the files in each installed distribution's RECORD (each file once); the venv "
        "total walks every file under sys.prefix (symlinks not followed)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    summary = {k: v for k, v in result.items() if not k.endswith("_packages")}
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
