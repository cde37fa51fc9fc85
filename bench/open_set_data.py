"""The faces the open-set benchmark works on: the shipped model's embeddings of the prepared aligned caches.

Each cache (``facegate-train prepare`` output: LFW, AT&T, the CelebA identity set, CelebA in-the-wild crops) is
embedded once with the service's own :meth:`models.embedder.FaceEmbedder.embed_crops` (the service's setting of
flip-TTA: off by default) and the result is kept under ``--work`` as ``{name}-{model_id}.npz`` (``embeddings``
``(N, 512)`` float32 unit rows, ``identities`` ``(N,)`` str), so that reruns skip the model.

Which CelebA identities the shipped model never saw is recomputed exactly as training did: the identities of the
cache sorted as strings, ``split_by_identity(val_identities=300, seed=0)`` (training/experiments/gpu/base.yaml).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger("open_set")


@dataclass(frozen=True)
class Faces:
    """Embeddings ``(N, E)`` and identity strings ``(N,)`` of one source."""

    name: str
    embeddings: np.ndarray
    identities: np.ndarray

    def __len__(self) -> int:
        return len(self.identities)

    def subset(self, mask: np.ndarray) -> Faces:
        return Faces(self.name, self.embeddings[mask], self.identities[mask])


def embed_cache(
    name: str, cache: Path, work: Path, *, flip_tta: bool = False, threads: int = 2, partial: bool = False
) -> Faces:
    """The embeddings of every aligned crop in ``cache``, shard by shard (each shard embedded once and kept under
    ``work/{name}-{model_id}/``). ``partial``: a cache still being written gives the shards finished so far
    (``prepare`` renames a shard's manifest into place only once the shard is whole)."""
    import json

    import torch

    from models.embedder import FaceEmbedder

    if not (cache / "DONE").exists() and not partial:
        raise FileNotFoundError(f"{cache} is not complete (no DONE file)")
    embedder = FaceEmbedder(device="cpu", batch_size=256, flip_tta=flip_tta)
    folder = work / f"{name}-{embedder.model_id}{'-flip' if flip_tta else ''}"
    folder.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    chunks: list[np.ndarray] = []
    identities: list[np.ndarray] = []
    start = time.perf_counter()
    for manifest in sorted(cache.glob("shard-*.jsonl")):
        out = folder / manifest.with_suffix(".npz").name
        if not out.exists():
            rows = [json.loads(line) for line in manifest.read_text().splitlines()]
            ok = [row for row in rows if row["status"] == "ok"]
            shard = np.load(manifest.with_suffix(".npy"), mmap_mode="r")
            crops = np.stack([np.asarray(shard[row["row"]]) for row in ok]) if ok else np.zeros((0, 112, 112, 3))
            embedded = embedder.embed_crops(crops.astype(np.uint8)) if ok else np.zeros((0, 512), np.float32)
            tmp = out.with_suffix(".tmp")
            with tmp.open("wb") as fh:  # written whole, then renamed: a reader never sees half a shard
                np.savez(fh, embeddings=embedded, identities=np.array([row["identity"] for row in ok]))
            tmp.replace(out)
            logger.info("%s %s: %d faces embedded (%.0f s)", name, manifest.name, len(ok), time.perf_counter() - start)
        data = np.load(out)
        chunks.append(data["embeddings"].astype(np.float32))
        identities.append(data["identities"])
    if not chunks:
        raise FileNotFoundError(f"{cache} has no finished shard")
    return Faces(name, np.concatenate(chunks), np.concatenate(identities))


def celeba_held_out(identities: np.ndarray, val_identities: int = 300, seed: int = 0) -> set[str]:
    """The CelebA identities training held out: training's own ``split_by_identity`` on the cache's labels
    (identities sorted as strings, as ``arrays_from_cache`` numbers them)."""
    from training.data.dataset import FaceArrays, split_by_identity

    names = sorted(set(identities.tolist()))
    number = {name: i for i, name in enumerate(names)}
    labels = np.array([number[i] for i in identities.tolist()], dtype=np.int64)
    data = FaceArrays(np.zeros((len(labels), 1), np.uint8), labels, np.zeros((len(labels), 0), np.float32))
    _, val = split_by_identity(data, val_identities, seed=seed)
    return {names[i] for i in np.unique(val.labels)}


PER_PERSON = 10


@dataclass
class Protocol:
    """Who is enrolled and who probes, in index terms (row numbers into ``faces.embeddings``); every LFW
    person counts with their first ``PER_PERSON`` images at most.

    - ``mated[i]``: an LFW person of half A (several images): ``images`` rows, the first enrolled;
    - ``strangers``: every image of the LFW people of half B (several images each), never enrolled;
    - ``stranger_sequences``: up to 10 windows of 3 consecutive images of each half-B person with 3+ images
      (a stranger seen by the door camera for 3 frames);
    - ``fillers``: one row per filler person: every single-image LFW person, then one image per CelebA training
      identity, then the other images of those identities (then each is its own one-image "person"), then
      any ``extra`` faces.
    """

    embeddings: np.ndarray
    mated: list[np.ndarray]
    strangers: np.ndarray
    stranger_sequences: list[np.ndarray]
    fillers: np.ndarray
    distinct_filler_identities: int


def build_protocol(lfw: Faces, celeba_train: Faces, wild: Faces | None, *, seed: int = 0) -> Protocol:
    """Split LFW's people (seeded) and line up the fillers; see :class:`Protocol`."""
    sources = [lfw, celeba_train] + ([wild] if wild is not None else [])
    embeddings = np.concatenate([f.embeddings for f in sources])
    offsets = np.cumsum([0] + [len(f) for f in sources])
    rows_of: dict[str, list[int]] = {}
    for i, identity in enumerate(lfw.identities.tolist()):
        rows_of.setdefault(identity, []).append(i)
    # at most PER_PERSON images of anyone, so that a few people with hundreds (G. W. Bush: 530) do not dominate
    rows_of = {name: rows[:PER_PERSON] for name, rows in rows_of.items()}
    several = sorted(name for name, rows in rows_of.items() if len(rows) > 1)
    order = np.random.default_rng(seed).permutation(len(several))
    half_a = {several[i] for i in order[: len(several) // 2]}
    mated = [np.array(rows_of[name]) for name in (several[i] for i in order[: len(several) // 2])]
    half_b = set(several) - half_a
    strangers = np.array(sorted(i for name, rows in rows_of.items() if name in half_b for i in rows))
    singles = sorted(rows[0] for rows in rows_of.values() if len(rows) == 1)
    sequences = []
    for name in sorted(half_b):
        rows = rows_of[name]
        sequences += [np.array(rows[s : s + 3]) for s in range(0, min(len(rows) - 2, 30), 3)]
    first: list[int] = []
    rest: list[int] = []
    seen: set[str] = set()
    for i, identity in enumerate(celeba_train.identities.tolist()):
        (rest if identity in seen else first).append(int(offsets[1]) + i)
        seen.add(identity)
    extra = [int(offsets[2]) + i for i in range(len(wild))] if wild is not None else []
    return Protocol(
        embeddings=embeddings,
        mated=mated,
        strangers=strangers,
        stranger_sequences=sequences,
        fillers=np.array(singles + first + rest + extra),
        distinct_filler_identities=len(singles) + len(seen),
    )
