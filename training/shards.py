"""Compact face shards: a prepared cache (+ teacher embeddings) packed small enough to travel.

A cache of 46,660 aligned 112×112 faces is 1.8 GB of raw pixels; a training machine that is reached by
copying a working tree (64 MiB at most) needs it ~35× smaller. ``pack`` stores every face as a WebP
image (lossy; quality 40 with the slowest, tightest encoder gives ≈1.0 kB and an RMS error of ≈5.9 grey
levels on CelebA crops, about what a door camera's JPEG does to a face), the manifest as arrays
(identity numbers, attributes as int8 with -1 = missing, file names), and teacher embeddings as int8
on one scale (the largest component ↦ 127; an error of at most half a step). ``unpack`` rebuilds an
ordinary cache (``training.prepare``'s format) and a float32 teacher ``.npy``, so training reads it
like any other cache.

``facegate-train shards pack CACHE OUT [--teacher T.npy] [--quality 40]``
``facegate-train shards unpack PACK CACHE [--workers N]``
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import multiprocessing as mp
import os
from pathlib import Path
from typing import Any

import numpy as np

from training.prepare import load_cache

logger = logging.getLogger(__name__)

FORMAT = "facegate-pack-1"
FACES_PER_SHARD = 4096
META = "meta.npz"
INFO = "pack.json"
TEACHER = "teacher.npz"


def _encode(crops: np.ndarray, quality: int) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    blobs = []
    for crop in crops:
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(crop)).save(buffer, "WEBP", quality=quality, method=6)
        blobs.append(buffer.getvalue())
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    return np.frombuffer(b"".join(blobs), dtype=np.uint8), offsets


def _encode_job(job: tuple[np.ndarray, int]) -> tuple[np.ndarray, np.ndarray]:
    return _encode(*job)


def _decode_shard(path: str) -> np.ndarray:
    from PIL import Image

    with np.load(path) as shard:
        data, offsets = shard["data"], shard["offsets"]
    faces = [
        np.asarray(Image.open(io.BytesIO(data[offsets[i] : offsets[i + 1]].tobytes())).convert("RGB"))
        for i in range(len(offsets) - 1)
    ]
    return np.stack(faces) if faces else np.zeros((0, 112, 112, 3), np.uint8)


class _InProcess:
    """``Pool``'s ``imap`` in this process, for one worker."""

    def __enter__(self) -> _InProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def imap(self, func: Any, jobs: list[Any]) -> Any:
        return map(func, jobs)


def _pool(workers: int) -> Any:
    return mp.get_context("spawn").Pool(workers) if workers > 1 else _InProcess()


def pack(cache: Path, out: Path, *, teacher: Path | None = None, quality: int = 40, workers: int = 1) -> dict[str, Any]:
    """Pack every aligned face of ``cache`` (and its teacher rows) into ``out``; returns ``pack.json``."""
    crops, rows = load_cache(cache)
    out.mkdir(parents=True, exist_ok=True)
    identities = sorted({row["identity"] for row in rows})
    number = {identity: i for i, identity in enumerate(identities)}
    names = sorted({name for row in rows for name in row.get("attributes", {})})
    attributes = np.full((len(rows), len(names)), -1, np.int8)
    for i, row in enumerate(rows):
        for j, name in enumerate(names):
            if name in row.get("attributes", {}):
                attributes[i, j] = int(row["attributes"][name])
    np.savez_compressed(
        out / META,
        identity=np.array([number[row["identity"]] for row in rows], np.int32),
        identities=np.array(identities, dtype=str),
        attribute_names=np.array(names, dtype=str),
        attributes=attributes,
        files=np.array([row["file"] for row in rows], dtype=str),
        split=np.array([row.get("split", "") for row in rows], dtype=str),
    )
    chunks = [crops[i : i + FACES_PER_SHARD] for i in range(0, len(crops), FACES_PER_SHARD)]
    with _pool(workers) as pool:
        for k, (data, offsets) in enumerate(pool.imap(_encode_job, [(chunk, quality) for chunk in chunks])):
            np.savez(out / f"faces-{k:05d}.npz", data=data, offsets=offsets)
    if teacher is not None:
        vectors = np.load(teacher).astype(np.float32)
        if len(vectors) != len(rows):
            raise ValueError(f"{teacher}: {len(vectors)} teacher rows for {len(rows)} faces")
        scale = float(np.abs(vectors).max()) or 1.0
        np.savez_compressed(out / TEACHER, q=np.round(vectors / scale * 127).astype(np.int8), scale=scale)
    info = {
        "format": FORMAT,
        "source": str(cache),
        "faces": len(rows),
        "identities": len(identities),
        "shards": len(chunks),
        "encoding": f"WebP quality {quality}, method 6",
        "teacher": teacher is not None and "int8, one scale for all (largest |component| -> 127)",
        "bytes": sum(f.stat().st_size for f in out.iterdir() if f.is_file()),
    }
    (out / INFO).write_text(json.dumps(info, indent=2) + "\n")
    return info


def unpack(packed: Path, cache: Path, *, workers: int = 1) -> dict[str, Any]:
    """Rebuild an ordinary cache in ``cache`` from a pack; the teacher (if packed) goes to
    ``cache/teacher.npy`` (float32). Returns ``pack.json``."""
    info: dict[str, Any] = json.loads((packed / INFO).read_text())
    if info.get("format") != FORMAT:
        raise ValueError(f"{packed}: not a {FORMAT} pack")
    shards = sorted(packed.glob("faces-*.npz"))
    cache.mkdir(parents=True, exist_ok=True)
    with np.load(packed / META) as meta:
        identity, identities = meta["identity"], meta["identities"]
        names, attributes = [str(n) for n in meta["attribute_names"]], meta["attributes"]
        files, split = meta["files"], meta["split"]
    start = 0
    with _pool(workers) as pool:
        for k, faces in enumerate(pool.imap(_decode_shard, [str(s) for s in shards])):
            np.save(cache / f"shard-{k:05d}.npy", faces)
            with (cache / f"shard-{k:05d}.jsonl").open("w") as fh:
                for r in range(len(faces)):
                    i = start + r
                    row = {
                        "file": str(files[i]),
                        "identity": str(identities[identity[i]]),
                        "attributes": {n: int(v) for n, v in zip(names, attributes[i], strict=True) if v >= 0},
                        "split": str(split[i]),
                        "status": "ok",
                        "row": r,
                    }
                    fh.write(json.dumps(row) + "\n")
            start += len(faces)
    if start != info["faces"]:
        raise ValueError(f"{packed}: {start} faces decoded, pack.json says {info['faces']}")
    if (packed / TEACHER).is_file():
        with np.load(packed / TEACHER) as teacher:
            np.save(cache / "teacher.npy", teacher["q"].astype(np.float32) * (float(teacher["scale"]) / 127.0))
    return info


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``shards`` subcommand's two commands, ``pack`` and ``unpack``."""
    sub = parser.add_subparsers(dest="shards_command", required=True, metavar="pack|unpack")
    p = sub.add_parser("pack", help="a face cache (+ teacher embeddings) into compact shards")
    p.add_argument("cache", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--teacher", type=Path)
    p.add_argument("--quality", type=int, default=40)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    u = sub.add_parser("unpack", help="compact shards back into a face cache")
    u.add_argument("packed", type=Path)
    u.add_argument("cache", type=Path)
    u.add_argument("--workers", type=int, default=os.cpu_count() or 1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.shards_command == "pack":
        info = pack(args.cache, args.out, teacher=args.teacher, quality=args.quality, workers=args.workers)
    else:
        info = unpack(args.packed, args.cache, workers=args.workers)
    logger.info("%s", json.dumps(info))
    return info
