"""Reading LFW pair lists (Huang et al., "Labeled Faces in the Wild", UMass TR 07-49, 2007).

View 2 (``pairs.txt``): a header ``<folds> <n>``, then for each fold ``n`` same-person lines
``Name i j`` followed by ``n`` different-person lines ``Name1 i Name2 j``. View 1
(``pairsDevTrain.txt``, ``pairsDevTest.txt``): a header ``<n>``, then ``n`` same lines and ``n``
different lines, one fold (0). ``i`` and ``j`` are 1-based image numbers; fields are separated
by tabs (any whitespace is accepted).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

DEFAULT_IMAGE_DIR = "images_deepfunneled"


@dataclass(frozen=True)
class Pair:
    """Two image paths, relative to the LFW root (``root / pair.path_a``), and the ground truth."""

    path_a: Path
    path_b: Path
    same: bool
    fold: int


def image_path(name: str, number: int, image_dir: str = DEFAULT_IMAGE_DIR) -> Path:
    """``<image_dir>/<Name>/<Name>_<number:04d>.jpg`` for a 1-based image number."""
    return Path(image_dir) / name / f"{name}_{number:04d}.jpg"


def parse_pairs(lines: Iterable[str], image_dir: str = DEFAULT_IMAGE_DIR, source: str = "<pairs>") -> list[Pair]:
    """Parse a View 1 or View 2 pair list (the header says which) into :class:`Pair` records.

    The pairs keep file order; ``fold`` is the 0-based View 2 fold, or 0 for View 1. Blank lines
    are skipped; anything else that does not fit the format raises ``ValueError`` naming
    ``source`` and the line number.
    """
    numbered = [(n, line.split()) for n, line in enumerate(lines, start=1) if line.strip()]
    if not numbered:
        raise ValueError(f"{source}: empty pairs file")
    header_line, header = numbered[0]
    try:
        counts = [int(field) for field in header]
    except ValueError:
        raise ValueError(f"{source}:{header_line}: header must be '<n>' or '<folds> <n>', got {header}") from None
    if len(counts) == 1:
        n_folds, per_block = 1, counts[0]
    elif len(counts) == 2:
        n_folds, per_block = counts
    else:
        raise ValueError(f"{source}:{header_line}: header must be '<n>' or '<folds> <n>', got {header}")
    if n_folds < 1 or per_block < 1:
        raise ValueError(f"{source}:{header_line}: counts must be positive, got {counts}")

    body = numbered[1:]
    expected = n_folds * 2 * per_block
    if len(body) != expected:
        raise ValueError(
            f"{source}: header promises {n_folds} fold(s) × 2 × {per_block} = {expected} pairs, found {len(body)}"
        )
    pairs = []
    for index, (line_number, fields) in enumerate(body):
        fold, position = divmod(index, 2 * per_block)
        same = position < per_block
        pairs.append(_parse_line(fields, same, fold, image_dir, f"{source}:{line_number}"))
    return pairs


def read_pairs(path: str | Path, image_dir: str = DEFAULT_IMAGE_DIR) -> list[Pair]:
    """:func:`parse_pairs` on a file, e.g. ``read_pairs(lfw_root / "pairs.txt")``."""
    path = Path(path)
    with path.open(encoding="utf-8") as lines:
        return parse_pairs(lines, image_dir=image_dir, source=str(path))


def same_and_folds(pairs: Iterable[Pair]) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """The ground truth and fold ids as arrays, for ``kfold_accuracy(scores, same, folds=folds)``."""
    pairs = list(pairs)
    return np.array([p.same for p in pairs], dtype=bool), np.array([p.fold for p in pairs], dtype=np.int64)


def _parse_line(fields: list[str], same: bool, fold: int, image_dir: str, where: str) -> Pair:
    expected = "'Name i j'" if same else "'Name1 i Name2 j'"
    if len(fields) != (3 if same else 4):
        raise ValueError(f"{where}: expected a {'same' if same else 'different'}-person line {expected}, got {fields}")
    if same:
        name_a, a, b = fields
        name_b = name_a
    else:
        name_a, a, name_b, b = fields
    try:
        number_a, number_b = int(a), int(b)
    except ValueError:
        raise ValueError(f"{where}: image numbers must be integers, got {fields}") from None
    if number_a < 1 or number_b < 1:
        raise ValueError(f"{where}: image numbers are 1-based, got {fields}")
    if not same and name_a == name_b:
        raise ValueError(f"{where}: a different-person line names the same person twice: {fields}")
    return Pair(image_path(name_a, number_a, image_dir), image_path(name_b, number_b, image_dir), same, fold)
