"""The index file: template ids, person ids and vectors behind a checked header.

Layout (little-endian)::

    magic "FGINDEX\\0" | version u32 | meta length u32 | payload length u64 | SHA-256 of meta + payload (32 bytes)
    meta: UTF-8 JSON {"model_id", "revision", "dim", "kind", "count"}
    payload: template ids int64[count] | person ids int64[count] | vectors float32[count × dim]

This file keeps the vectors, for every index kind; an HNSW graph is saved beside it by faiss
(:mod:`service.index.graphfile`) and used on load when it matches this file, else rebuilt from these vectors,
so a faiss upgrade never strands a file. The file is a cache (SQL is the source of truth):
anything wrong with it is an :class:`IndexFileError` and the caller rebuilds from SQL.

Writes are atomic: a temporary file in the same folder, fsync, ``os.replace``, fsync of the folder. A crash
leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from service.index.types import IndexFileError, IndexStamp

MAGIC = b"FGINDEX\x00"
VERSION = 1
_HEADER = struct.Struct("<8sIIQ32s")


@dataclass(frozen=True)
class IndexSnapshot:
    """The contents of an index file: ``(N,)`` int64 template and person ids, ``(N, dim)`` float32 vectors."""

    stamp: IndexStamp
    template_ids: np.ndarray
    person_ids: np.ndarray
    vectors: np.ndarray
    checksum: bytes = b""
    """The file's SHA-256 of meta + payload (set when read or written): what a saved HNSW graph is tied to."""


def write_index_file(path: Path, snapshot: IndexSnapshot) -> bytes:
    """Write ``snapshot`` to ``path`` atomically (its folder is created); returns the file's checksum."""
    stamp, n = snapshot.stamp, len(snapshot.template_ids)
    if snapshot.vectors.shape != (n, stamp.dim) or snapshot.person_ids.shape != (n,):
        raise ValueError(f"inconsistent snapshot: {n} ids, {snapshot.person_ids.shape}, {snapshot.vectors.shape}")
    meta = json.dumps(
        {"model_id": stamp.model_id, "revision": stamp.revision, "dim": stamp.dim, "kind": stamp.kind, "count": n}
    ).encode()
    parts = [
        np.ascontiguousarray(snapshot.template_ids, dtype="<i8"),
        np.ascontiguousarray(snapshot.person_ids, dtype="<i8"),
        np.ascontiguousarray(snapshot.vectors, dtype="<f4"),
    ]
    digest = hashlib.sha256(meta)
    for part in parts:
        digest.update(part.data)
    header = _HEADER.pack(MAGIC, VERSION, len(meta), sum(p.nbytes for p in parts), digest.digest())

    atomic_write(path, [header, meta, *(part.data for part in parts)])
    return digest.digest()


def atomic_write(path: Path, chunks: list[bytes | memoryview]) -> None:
    """Write ``chunks`` to ``path``: a temporary file in the same folder, fsync, ``os.replace``, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per writer, so two threads saving at once cannot interleave in one temporary file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with tmp.open("wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_folder(path.parent)


def read_whole(path: Path, what: str) -> bytes:
    """The bytes of ``path``; :class:`IndexFileError` naming ``what`` (e.g. "index file") when it is missing or
    unreadable."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise IndexFileError(f"no {what} at {path}") from None
    except OSError as exc:
        raise IndexFileError(f"cannot read the {what} {path}: {exc}") from exc


def read_index_file(path: Path) -> IndexSnapshot:
    """The snapshot saved at ``path``; :class:`IndexFileError` saying why when it cannot be trusted."""
    data = read_whole(path, "index file")
    if len(data) < _HEADER.size:
        raise IndexFileError(f"index file {path} is truncated ({len(data)} bytes, header alone is {_HEADER.size})")
    magic, version, meta_len, payload_len, checksum = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise IndexFileError(f"{path} is not a facegate index file (magic {magic!r})")
    if version != VERSION:
        raise IndexFileError(f"index file {path} has format version {version}, this code reads {VERSION}")
    body = memoryview(data)[_HEADER.size :]
    if len(body) != meta_len + payload_len:
        raise IndexFileError(
            f"index file {path} is truncated or has trailing bytes: {len(body)} bytes after the header, "
            f"the header announces {meta_len + payload_len}"
        )
    if hashlib.sha256(body).digest() != checksum:
        raise IndexFileError(f"index file {path} is corrupt (checksum mismatch)")
    try:
        meta = json.loads(bytes(body[:meta_len]))
        stamp = IndexStamp(
            model_id=str(meta["model_id"]), revision=int(meta["revision"]), dim=int(meta["dim"]), kind=str(meta["kind"])
        )
        count = int(meta["count"])
    except (ValueError, KeyError, TypeError) as exc:
        raise IndexFileError(f"index file {path} has unreadable metadata: {exc}") from exc
    if count < 0 or stamp.dim < 1 or payload_len != count * (16 + 4 * stamp.dim):
        raise IndexFileError(f"index file {path}: {count} templates of dim {stamp.dim} do not fill {payload_len} bytes")
    payload = body[meta_len:]
    # Read-only views into ``data`` (no copy of what may be hundreds of MB): the index copies them into its store.
    ids = np.frombuffer(payload, dtype="<i8", count=count).astype(np.int64, copy=False)
    persons = np.frombuffer(payload, dtype="<i8", count=count, offset=8 * count).astype(np.int64, copy=False)
    vectors = np.frombuffer(payload, dtype="<f4", count=count * stamp.dim, offset=16 * count)
    vectors = vectors.reshape(count, stamp.dim).astype(np.float32, copy=False)
    return IndexSnapshot(stamp, ids, persons, vectors, checksum=checksum)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
