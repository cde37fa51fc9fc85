"""The HNSW graph file: faiss's own serialisation of the graph, saved beside the index file, so that a restart
loads the graph instead of rebuilding it (minutes at 10^5 templates on two cores).

Layout (little-endian), at ``<index file>.hnsw``::

    magic "FGHNSW\\0\\0" | version u32 | node count u64 | index file checksum (32 bytes) | SHA-256 of payload (32)
    payload: template id of each node int64[nodes] | live-node bitmap uint8[ceil(nodes / 8)] | faiss bytes

The graph is only an accelerator of the index file's vectors. It is used only when it names the index file it was
saved with (that file's SHA-256, so a newer index file with an older graph, or the other way round, never pair
up), when its own checksum holds and when its live nodes are exactly the file's templates; otherwise the caller
rebuilds it from the vectors, as before. The stamp and SQL revision checks of :mod:`service.index.sync` apply to
the index file as ever: a stale index file is rebuilt from SQL, and its graph with it.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from service.index.storage import atomic_write, read_whole
from service.index.types import IndexFileError

MAGIC = b"FGHNSW\x00\x00"
VERSION = 1
_HEADER = struct.Struct("<8sIQ32s32s")


def graph_path(index_path: Path) -> Path:
    """Where the graph of the index file ``index_path`` is kept."""
    return index_path.with_name(index_path.name + ".hnsw")


@dataclass(frozen=True)
class SavedGraph:
    """A graph as saved: ``(nodes,)`` template id per node, the live-node bitmap (faiss's bit order) and the
    serialised faiss index."""

    node_template_ids: np.ndarray
    alive: np.ndarray
    faiss_bytes: np.ndarray


def write_graph_file(path: Path, graph: SavedGraph, index_checksum: bytes) -> None:
    """Write ``graph`` atomically, tied to the index file whose checksum is ``index_checksum``."""
    nodes = len(graph.node_template_ids)
    parts = [
        np.ascontiguousarray(graph.node_template_ids, dtype="<i8"),
        np.ascontiguousarray(graph.alive[: (nodes + 7) // 8], dtype=np.uint8),
        np.ascontiguousarray(graph.faiss_bytes, dtype=np.uint8),
    ]
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.data)
    header = _HEADER.pack(MAGIC, VERSION, nodes, index_checksum, digest.digest())
    atomic_write(path, [header, *(part.data for part in parts)])


def read_graph_file(path: Path, index_checksum: bytes) -> tuple[faiss.Index, SavedGraph]:
    """The faiss index and node map saved at ``path`` for the index file of checksum ``index_checksum``;
    :class:`IndexFileError` saying why when it is missing, corrupt or belongs to another index file."""
    data = read_whole(path, "graph file")
    if len(data) < _HEADER.size:
        raise IndexFileError(f"graph file {path} is truncated")
    magic, version, nodes, owner, checksum = _HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION:
        raise IndexFileError(f"{path} is not a version-{VERSION} facegate graph file")
    if owner != index_checksum:
        raise IndexFileError(f"graph file {path} was saved with another index file")
    body = memoryview(data)[_HEADER.size :]
    if hashlib.sha256(body).digest() != checksum:
        raise IndexFileError(f"graph file {path} is corrupt (checksum mismatch)")
    bitmap = (nodes + 7) // 8
    if len(body) < 8 * nodes + bitmap:
        raise IndexFileError(f"graph file {path}: {nodes} nodes do not fit {len(body)} bytes")
    ids = np.frombuffer(body, dtype="<i8", count=nodes).astype(np.int64)
    alive = np.frombuffer(body, dtype=np.uint8, count=bitmap, offset=8 * nodes).copy()
    raw = np.frombuffer(body, dtype=np.uint8, offset=8 * nodes + bitmap)
    try:
        index = faiss.deserialize_index(raw)
    except RuntimeError as exc:
        raise IndexFileError(f"graph file {path}: faiss cannot read its index: {exc}") from exc
    if int(index.ntotal) != nodes:
        raise IndexFileError(f"graph file {path}: faiss holds {index.ntotal} nodes, the map {nodes}")
    return index, SavedGraph(ids, alive, raw)
