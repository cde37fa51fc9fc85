"""The HNSW graph is saved beside the index file and loaded back, not rebuilt, on restart; a graph that does not
belong to the index file (older, newer, damaged) is rebuilt from the vectors; IndexSync's stamp and SQL checks
still decide whether the file itself is current."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from test_index_sync import DIM, MODEL, Factory, add_person, enrol, make_sync, unit_vectors

from service.index.graphfile import graph_path
from service.index.structures import HnswStructure
from service.index.vectors import IndexConfig, IndexStamp, VectorIndex

HNSW = IndexConfig(kind="hnsw", hnsw_m=8, hnsw_ef_construction=40)


def _index(n: int, seed: int = 0) -> tuple[VectorIndex, np.ndarray]:
    vectors = unit_vectors(np.random.default_rng(seed), n)
    index = VectorIndex(DIM, HNSW)
    index.add(np.arange(1, n + 1), np.arange(1, n + 1) // 3, vectors)
    return index, vectors


def _builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records every HNSW insertion (a build, or a replay of changes): loading a saved graph must make none."""
    calls: list[int] = []
    original = HnswStructure.add

    def counting(self: HnswStructure, template_ids: np.ndarray, vectors: np.ndarray) -> None:
        calls.append(len(template_ids))
        original(self, template_ids, vectors)

    monkeypatch.setattr(HnswStructure, "add", counting)
    return calls


def test_a_saved_graph_is_loaded_not_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index, vectors = _index(600)
    index.remove([5, 6, 7])  # tombstones survive the round trip
    path = tmp_path / "t.fgi"
    stamp = IndexStamp(MODEL, 3, DIM, "hnsw")
    index.save(path, stamp)
    assert graph_path(path).is_file()
    builds = _builds(monkeypatch)
    loaded, loaded_stamp = VectorIndex.load(path, dim=DIM, config=HNSW)
    assert builds == [] and loaded_stamp == stamp
    assert loaded.structure() == "hnsw" and len(loaded) == 597 and 5 not in loaded.template_ids()
    queries = vectors[:50]
    assert loaded.search(queries, 3) == index.search(queries, 3)
    # The loaded graph takes changes like a built one.
    loaded.add(np.array([9000]), np.array([77]), vectors[5:6])
    assert loaded.search(vectors[5], 1)[0][0].person_id == 77


@pytest.mark.parametrize("how", ["older-graph", "damaged-graph", "no-graph"])
def test_a_graph_that_is_not_the_files_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    path = tmp_path / "t.fgi"
    stamp = IndexStamp(MODEL, 3, DIM, "hnsw")
    old, _ = _index(300, seed=1)
    old.save(path, stamp)
    stale_graph = graph_path(path).read_bytes()
    index, vectors = _index(400, seed=2)
    index.save(path, stamp)
    if how == "older-graph":  # a crash between the two writes, or a graph copied from elsewhere
        graph_path(path).write_bytes(stale_graph)
    elif how == "damaged-graph":
        data = bytearray(graph_path(path).read_bytes())
        data[-100] ^= 0xFF
        graph_path(path).write_bytes(bytes(data))
    else:
        graph_path(path).unlink()
    builds = _builds(monkeypatch)
    loaded, _ = VectorIndex.load(path, dim=DIM, config=HNSW)
    assert builds == [400]
    assert len(loaded) == 400 and loaded.structure() == "hnsw"
    assert [hits[0].template_id for hits in loaded.search(vectors[:20], 1)] == list(range(1, 21))


def test_a_flat_index_leaves_no_graph(tmp_path: Path) -> None:
    path = tmp_path / "t.fgi"
    index, _ = _index(50)
    index.save(path, IndexStamp(MODEL, 1, DIM, "hnsw"))
    assert graph_path(path).exists()
    flat = VectorIndex(DIM)
    flat.add(np.array([1]), np.array([1]), unit_vectors(np.random.default_rng(3), 1))
    flat.save(path, IndexStamp(MODEL, 2, DIM, "flat"))
    assert not graph_path(path).exists()


def test_restart_loads_the_graph_and_a_stale_file_rebuilds_from_sql(
    sqlite_db: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(5)
    for name in ("ada", "bob", "cy"):
        enrol(sqlite_db, add_person(sqlite_db, name), unit_vectors(rng, 40))
    path = tmp_path / "t.fgi"
    first = make_sync(sqlite_db, path, config=HNSW)
    assert first.start() == "rebuilt:missing"
    assert graph_path(path).is_file()
    caplog.set_level(logging.INFO, logger="service.index")
    builds = _builds(monkeypatch)
    second = make_sync(sqlite_db, path, config=HNSW)
    assert second.start() == "loaded"
    assert builds == [] and "index graph loaded" in caplog.text
    assert second.index.structure() == "hnsw" and len(second.index) == 120
    # A template enrolled while the service was down: the file's revision is stale, so SQL rebuilds it all.
    enrol(sqlite_db, add_person(sqlite_db, "dee"), unit_vectors(rng, 1))
    third = make_sync(sqlite_db, path, config=HNSW)
    assert third.start() == "rebuilt:stale-revision"
    assert builds == [121] and len(third.index) == 121
