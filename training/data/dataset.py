"""In-memory training data: aligned crops, identity labels, attribute targets, teacher embeddings.

A face cache (``training.prepare``) becomes a :class:`FaceArrays` split by *identity* into a
training part and a held-out validation part, so the per-epoch verification check only sees
people the network never trained on. ``synthetic_arrays`` makes a small learnable stand-in
(each identity a fixed random pattern plus noise) for smoke tests and CI.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from training.prepare import load_cache


@dataclass
class FaceArrays:
    """``crops`` ``(N, S, S, 3)`` uint8, ``labels`` ``(N,)`` int64 in ``[0, num_classes)``,
    ``attributes`` ``(N, A)`` float32 (1, 0, NaN = missing), ``teacher`` ``(N, T)`` or ``None``."""

    crops: np.ndarray
    labels: np.ndarray
    attributes: np.ndarray
    teacher: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    def subset(self, index: np.ndarray) -> FaceArrays:
        teacher = None if self.teacher is None else self.teacher[index]
        return FaceArrays(self.crops[index], self.labels[index], self.attributes[index], teacher)


def arrays_from_cache(
    cache: Path, attributes: Sequence[str], teacher: Path | None = None
) -> tuple[FaceArrays, list[dict[str, Any]]]:
    """Every aligned face of the cache with its label and attribute targets, and the manifest rows."""
    crops, rows = load_cache(cache)
    identities = sorted({row["identity"] for row in rows})
    index = {identity: i for i, identity in enumerate(identities)}
    labels = np.array([index[row["identity"]] for row in rows], dtype=np.int64)
    attrs = np.full((len(rows), len(attributes)), np.nan, dtype=np.float32)
    for i, row in enumerate(rows):
        for j, name in enumerate(attributes):
            if name in row["attributes"]:
                attrs[i, j] = float(row["attributes"][name])
    teacher_array = np.load(teacher).astype(np.float32) if teacher else None
    if teacher_array is not None and len(teacher_array) != len(rows):
        raise ValueError(f"{teacher}: {len(teacher_array)} teacher rows for {len(rows)} faces")
    return FaceArrays(crops, labels, attrs, teacher_array), rows


def synthetic_arrays(
    identities: int, per_identity: int, num_attributes: int, seed: int = 0, size: int = 112
) -> FaceArrays:
    """A learnable stand-in for real faces: identity ``k`` is a smooth random pattern, each image
    of it that pattern plus fresh noise; attribute ``a`` of identity ``k`` is a fixed random bit."""
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, size=(identities, 7, 7, 3)).astype(np.float32)
    patterns = np.repeat(np.repeat(low, size // 7 + 1, axis=1), size // 7 + 1, axis=2)[:, :size, :size]
    labels = np.repeat(np.arange(identities), per_identity)
    noise = rng.normal(0.0, 25.0, size=(len(labels), size, size, 3))
    crops = np.clip(patterns[labels] + noise, 0, 255).astype(np.uint8)
    bits = rng.integers(0, 2, size=(identities, num_attributes)).astype(np.float32)
    return FaceArrays(crops, labels.astype(np.int64), bits[labels])


def split_by_identity(data: FaceArrays, val_identities: int, seed: int = 0) -> tuple[FaceArrays, FaceArrays]:
    """Hold out ``val_identities`` whole identities; training labels are renumbered ``0..C-1``."""
    classes = np.unique(data.labels)
    val_identities = min(val_identities, max(0, len(classes) - 2))
    held = np.random.default_rng(seed).choice(classes, size=val_identities, replace=False)
    is_val = np.isin(data.labels, held)
    train, val = data.subset(np.flatnonzero(~is_val)), data.subset(np.flatnonzero(is_val))
    _, train.labels = np.unique(train.labels, return_inverse=True)
    train.labels = train.labels.astype(np.int64)
    return train, val


def to_tensor(crops: np.ndarray, device: torch.device, channels_last: bool = False) -> torch.Tensor:
    """``(B, S, S, 3)`` uint8 → normalised float ``(B, 3, S, S)`` in [-1, 1] (the package's mean/std 0.5)."""
    return normalise_crops(torch.from_numpy(np.ascontiguousarray(crops)).to(device), channels_last)


def normalise_crops(crops: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
    """``(B, S, S, 3)`` uint8 tensor (on any device) → normalised float ``(B, 3, S, S)`` in [-1, 1]."""
    x = crops.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()


def epoch_batches(
    n: int, batch_size: int, epoch: int, seed: int, rank: int = 0, world_size: int = 1
) -> Iterator[np.ndarray]:
    """This rank's batches of one epoch: a permutation seeded by (seed, epoch), cut into
    ``world_size`` equal interleaved shards, full batches only, so every rank takes the same
    number of steps."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    per_rank = n // world_size
    mine = order[rank : per_rank * world_size : world_size]
    for start in range(0, len(mine) - batch_size + 1, batch_size):
        yield mine[start : start + batch_size]


def held_out_identities(cache: Path, val_identities: int, seed: int = 0) -> list[str]:
    """The identities :func:`split_by_identity` holds out of a cache (same seed and count), read from
    the manifest alone: what a merged training set must leave out to keep a model's validation people
    unseen."""
    from training.prepare import read_manifest

    identities = sorted({row["identity"] for row in read_manifest(cache) if row["status"] == "ok"})
    classes = np.arange(len(identities))
    val_identities = min(val_identities, max(0, len(classes) - 2))
    held = np.random.default_rng(seed).choice(classes, size=val_identities, replace=False)
    return sorted(identities[i] for i in held)
