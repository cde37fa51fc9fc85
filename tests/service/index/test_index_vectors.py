"""VectorIndex against brute force, for each kind: ranking, person aggregation, replace, removal, persistence,
file damage, thread safety. Small random or clustered unit vectors keep every case well under a second."""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import service.index.vectors as vectors_module
from service.index.structures import IvfStructure
from service.index.vectors import IndexConfig, IndexFileError, IndexStamp, PersonHit, VectorIndex

DIM = 32
KINDS = ["flat", "hnsw", "ivf"]
# IVF trains at 2048 vectors by default; the tests that must exercise it use a lower floor.
CONFIGS = {
    "flat": IndexConfig(kind="flat"),
    "hnsw": IndexConfig(kind="hnsw", hnsw_m=16, hnsw_ef_construction=80, hnsw_ef_search=64),
    "ivf": IndexConfig(kind="ivf", ivf_min_train=200, ivf_nprobe=8),
}


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def random_unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    return unit(rng.standard_normal((n, dim)))


def clustered(rng: np.random.Generator, people: int, per_person: int, spread: float = 0.35) -> tuple[np.ndarray, ...]:
    """``people`` identities, ``per_person`` templates each scattered around a centre; (ids, persons, vectors)."""
    centres = random_unit(rng, people)
    vectors = unit(
        np.repeat(centres, per_person, axis=0) + spread / np.sqrt(DIM) * rng.standard_normal((people * per_person, DIM))
    )
    persons = np.repeat(np.arange(people, dtype=np.int64) + 1000, per_person)
    ids = np.arange(len(vectors), dtype=np.int64) + 1
    return ids, persons, vectors


def brute_force(
    ids: np.ndarray, persons: np.ndarray, vectors: np.ndarray, query: np.ndarray, k: int
) -> list[PersonHit]:
    """Top-k people by their best template, with numpy only."""
    scores = vectors @ query
    best: dict[int, tuple[float, int]] = {}
    for tid, pid, score in zip(ids.tolist(), persons.tolist(), scores.tolist(), strict=True):
        if pid not in best or score > best[pid][0]:
            best[pid] = (score, tid)
    ranked = sorted(best.items(), key=lambda item: -item[1][0])[:k]
    return [PersonHit(pid, score, tid) for pid, (score, tid) in ranked]


def filled(kind: str, ids: np.ndarray, persons: np.ndarray, vectors: np.ndarray) -> VectorIndex:
    index = VectorIndex(DIM, CONFIGS[kind])
    index.add(ids, persons, vectors)
    return index


def test_flat_ranks_people_exactly_as_brute_force() -> None:
    rng = np.random.default_rng(0)
    ids = rng.choice(10**6, size=1500, replace=False).astype(np.int64)
    persons = rng.integers(0, 400, size=1500).astype(np.int64)  # uneven: some people hold many templates
    vectors = random_unit(rng, 1500)
    index = filled("flat", ids, persons, vectors)
    queries = random_unit(rng, 50)
    for query, hits in zip(queries, index.search(queries, 10), strict=True):
        expected = brute_force(ids, persons, vectors, query, 10)
        assert [(h.person_id, h.template_id) for h in hits] == [(h.person_id, h.template_id) for h in expected]
        assert [h.score for h in hits] == pytest.approx([h.score for h in expected], abs=1e-5)
    single = index.search(queries[0], 3)
    assert len(single) == 1 and single[0] == index.search(queries[:1], 3)[0]


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_recall_at_1_on_clustered_data(kind: str) -> None:
    rng = np.random.default_rng(1)
    ids, persons, vectors = clustered(rng, people=300, per_person=10)
    index = filled(kind, ids, persons, vectors)
    assert index.structure() == kind  # really the approximate structure, not the exact fallback
    probes = rng.choice(len(vectors), size=300, replace=False)
    queries = unit(vectors[probes] + 0.2 / np.sqrt(DIM) * rng.standard_normal((300, DIM)))
    found = index.search(queries, 1)
    exact = [brute_force(ids, persons, vectors, q, 1)[0].template_id for q in queries]
    recall = np.mean([bool(hits) and hits[0].template_id == want for hits, want in zip(found, exact, strict=True)])
    assert recall >= 0.95


@pytest.mark.parametrize("kind", KINDS)
def test_a_person_with_many_templates_does_not_crowd_out_the_next(kind: str) -> None:
    rng = np.random.default_rng(2)
    ids, persons, vectors = clustered(rng, people=300, per_person=8)
    query = random_unit(rng, 1)[0]
    # Person 1 holds 50 templates all closer to the query than person 2's single one.
    crowd = unit(query + 0.15 / np.sqrt(DIM) * rng.standard_normal((50, DIM)))
    runner_up = unit(query[None] + 0.6 / np.sqrt(DIM) * rng.standard_normal((1, DIM)))
    assert (crowd @ query).min() > float(runner_up[0] @ query)
    # Every IVF cell probed: this is about aggregating templates into people, not about recall.
    index = VectorIndex(DIM, replace(CONFIGS[kind], ivf_nprobe=10_000))
    index.add(ids, persons, vectors)
    index.add(np.arange(50, dtype=np.int64) + 10_000, np.full(50, 1, np.int64), crowd)
    index.add(np.array([20_000]), np.array([2]), runner_up)
    hits = index.search(query, 2)[0]
    assert [h.person_id for h in hits] == [1, 2]
    assert hits[0].score >= hits[1].score
    assert hits[1].template_id == 20_000


@pytest.mark.parametrize("kind", KINDS)
def test_re_adding_a_template_id_replaces_it(kind: str) -> None:
    rng = np.random.default_rng(3)
    ids, persons, vectors = clustered(rng, people=40, per_person=10)
    index = filled(kind, ids, persons, vectors)
    old, new = vectors[5].copy(), random_unit(rng, 1)
    index.add(np.array([ids[5]]), np.array([77]), new)
    assert len(index) == len(ids)
    assert index.person_of(int(ids[5])) == 77
    assert index.search(new[0], 1)[0][0] == PersonHit(77, pytest.approx(1.0, abs=1e-4), int(ids[5]))  # type: ignore[arg-type]
    assert all(h.template_id != ids[5] for h in index.search(old, 3)[0])


@pytest.mark.parametrize("kind", KINDS)
def test_remove_and_remove_person(kind: str) -> None:
    rng = np.random.default_rng(4)
    ids, persons, vectors = clustered(rng, people=50, per_person=6)
    index = filled(kind, ids, persons, vectors)
    gone = ids[:3].tolist()
    assert index.remove([*gone, 999_999]) == 3
    assert index.remove(gone) == 0
    assert index.person_of(gone[0]) is None
    assert len(index) == len(ids) - 3
    person = int(persons[100])
    assert index.remove_person(person) == int((persons == person).sum())
    assert index.remove_person(person) == 0
    kept = ~np.isin(ids, gone) & (persons != person)
    assert index.template_ids() == frozenset(ids[kept].tolist())
    for i in [0, 1, 2, *np.flatnonzero(persons == person).tolist()]:
        hits = index.search(vectors[i], 5)[0]
        assert all(h.template_id in index.template_ids() and h.person_id != person for h in hits)
    # What remains is still found: its own vector is its best match.
    for i in np.flatnonzero(kept)[:20]:
        assert index.search(vectors[i], 1)[0][0].person_id == persons[i]


def test_hnsw_rebuilds_its_graph_when_tombstones_pile_up() -> None:
    rng = np.random.default_rng(5)
    ids, persons, vectors = clustered(rng, people=40, per_person=10)
    index = filled("hnsw", ids, persons, vectors)
    ann = index._ann
    index.remove(ids[:60].tolist())  # 15 %: below the 20 % limit, tombstones only
    assert index._ann is ann
    index.remove(ids[60:100].tolist())  # 25 %: a new graph
    assert index._ann is not ann and index.structure() == "hnsw"
    assert ann is not None and index._ann is not None and index._ann.dead_fraction == 0.0
    for i in range(100, 140):
        assert index.search(vectors[i], 1)[0][0].template_id == ids[i]
    assert index.remove(ids[100:].tolist()) == len(ids) - 100
    assert len(index) == 0 and index.search(vectors[0], 3) == [[]]


def test_ivf_searches_exactly_until_it_has_enough_vectors_to_train() -> None:
    rng = np.random.default_rng(6)
    ids, persons, vectors = clustered(rng, people=100, per_person=10)
    index = VectorIndex(DIM, IndexConfig(kind="ivf", ivf_min_train=500))
    index.add(ids[:400], persons[:400], vectors[:400])
    assert index.structure() == "exact"
    index.add(ids[400:], persons[400:], vectors[400:])
    assert index.structure() == "ivf"
    assert isinstance(index._ann, IvfStructure) and index._ann.nlist == 1000 // 39
    index.remove(ids[:700].tolist())  # below the floor again
    assert index.structure() == "exact"
    assert index.search(vectors[800], 1)[0][0].template_id == ids[800]


def test_changes_made_while_a_structure_is_built_are_replayed(monkeypatch: pytest.MonkeyPatch) -> None:
    started, release = threading.Event(), threading.Event()

    class SlowIvf(IvfStructure):
        def __init__(self, *args: object, **kwargs: object) -> None:
            started.set()
            assert release.wait(120)  # a hang guard: the test releases it after a few searches
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(vectors_module, "IvfStructure", SlowIvf)
    rng = np.random.default_rng(7)
    ids, persons, vectors = clustered(rng, people=60, per_person=10)
    index = VectorIndex(DIM, CONFIGS["ivf"])
    builder = threading.Thread(target=index.add, args=(ids, persons, vectors))
    builder.start()
    assert started.wait(120)  # a hang guard, generous for a busy machine
    # Meanwhile: searches are exact, and changes land in the store.
    assert index.structure() == "exact"
    assert index.search(vectors[0], 1)[0][0].template_id == ids[0]
    index.remove(ids[:10].tolist())
    extra = random_unit(rng, 1)
    index.add(np.array([5000]), np.array([9]), extra)
    index.add(np.array([ids[20]]), np.array([8]), random_unit(rng, 1))
    release.set()
    builder.join(10)
    assert index.structure() == "ivf"
    assert index.search(extra[0], 1)[0][0].template_id == 5000
    assert all(h.template_id not in ids[:10] for hits in index.search(vectors[:10], 5) for h in hits)
    assert all(h.template_id != ids[20] for h in index.search(vectors[20], 5)[0])


@pytest.mark.parametrize("kind", KINDS)
def test_save_and_load_round_trip(kind: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    ids, persons, vectors = clustered(rng, people=50, per_person=8)
    index = filled(kind, ids, persons, vectors)
    stamp = IndexStamp(model_id="fg1-test", revision=42, dim=DIM, kind=kind)
    path = tmp_path / "sub" / "index.fgi"
    index.save(path, stamp)
    loaded, got = VectorIndex.load(path, dim=DIM, config=CONFIGS[kind])
    assert got == stamp
    assert loaded.template_ids() == index.template_ids()
    assert all(loaded.person_of(t) == index.person_of(t) for t in ids.tolist())
    assert loaded.structure() == index.structure()
    queries = vectors[::17]
    if kind in ("flat", "hnsw"):  # an HNSW index loads its saved graph: the very same answers
        assert loaded.search(queries, 3) == index.search(queries, 3)
    assert [h[0].template_id for h in loaded.search(queries, 1)] == ids[::17].tolist()
    expected = ["index.fgi", "index.fgi.hnsw"] if kind == "hnsw" else ["index.fgi"]
    assert sorted(p.name for p in path.parent.iterdir()) == expected  # no temporary file left behind


def test_an_empty_index_saves_loads_and_answers_nothing(tmp_path: Path) -> None:
    index = VectorIndex(DIM)
    assert len(index) == 0 and index.search(random_unit(np.random.default_rng(9), 4), 5) == [[], [], [], []]
    index.save(tmp_path / "empty.fgi", IndexStamp("m", 0, DIM, "flat"))
    loaded, stamp = VectorIndex.load(tmp_path / "empty.fgi", dim=DIM)
    assert len(loaded) == 0 and stamp.revision == 0


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[: len(data) - 100]))
    elif how == "header-only":
        path.write_bytes(bytes(data[:20]))
    elif how == "bit-flip":
        data[-7] ^= 0x10
        path.write_bytes(bytes(data))
    elif how == "bad-magic":
        data[0] ^= 0xFF
        path.write_bytes(bytes(data))
    elif how == "trailing":
        path.write_bytes(bytes(data) + b"\0\0\0\0")
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "missing":
        path.unlink()


@pytest.mark.parametrize("how", ["missing", "empty", "header-only", "truncated", "bit-flip", "bad-magic", "trailing"])
def test_a_damaged_file_is_an_index_file_error(how: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    ids, persons, vectors = clustered(rng, people=10, per_person=5)
    path = tmp_path / "index.fgi"
    filled("flat", ids, persons, vectors).save(path, IndexStamp("m", 1, DIM, "flat"))
    _damage(path, how)
    with pytest.raises(IndexFileError):
        VectorIndex.load(path, dim=DIM)


def test_a_file_of_another_dimension_is_an_index_file_error(tmp_path: Path) -> None:
    path = tmp_path / "index.fgi"
    VectorIndex(DIM).save(path, IndexStamp("m", 1, DIM, "flat"))
    with pytest.raises(IndexFileError, match="expected 64"):
        VectorIndex.load(path, dim=64)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ix, v: ix.add(np.array([1, 2]), np.array([1]), v[:2]), "person ids"),
        (lambda ix, v: ix.add(np.array([1, 1]), np.array([1, 1]), v[:2]), "repeat"),
        (lambda ix, v: ix.add(np.array([1]), np.array([1]), v[:2]), "shape"),
        (lambda ix, v: ix.add(np.array([1]), np.array([1]), v[:1, :8]), "shape"),
        (lambda ix, v: ix.add(np.array([1]), np.array([1]), 2 * v[:1]), "unit-norm"),
        (lambda ix, v: ix.add(np.array([1]), np.array([1]), np.full((1, DIM), np.nan, np.float32)), "NaN"),
        (lambda ix, v: ix.add(np.array([1.0]), np.array([1]), v[:1]), "integer"),
        (lambda ix, v: ix.add(np.array([-1]), np.array([1]), v[:1]), ">= 0"),
        (lambda ix, v: ix.add(np.array([1]), np.array([1]), (v[:1] * 100).astype(np.int32)), "floating"),
        (lambda ix, v: ix.search(v[0], 0), "positive"),
        (lambda ix, v: ix.search(v[0][:8], 1), "shape"),
        (lambda ix, v: ix.search(v[None], 1), "shape"),
        (lambda ix, v: ix.update(add_ids=np.array([1])), "together"),
        (lambda ix, v: ix.save(Path("x"), IndexStamp("m", 0, 8, "flat")), "dim"),
    ],
)
def test_bad_input_is_a_clear_value_error(call: object, message: str) -> None:
    index = VectorIndex(DIM)
    with pytest.raises(ValueError, match=message):
        call(index, random_unit(np.random.default_rng(11), 3))  # type: ignore[operator]
    assert len(index) == 0  # and nothing changed


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        IndexConfig(kind="annoy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ivf_nprobe"):
        IndexConfig(ivf_nprobe=0)
    with pytest.raises(ValueError, match="tombstones"):
        IndexConfig(hnsw_max_tombstones=1.5)
    with pytest.raises(ValueError, match="dim"):
        VectorIndex(0)


@pytest.mark.parametrize("kind", KINDS)
def test_searches_run_safely_while_another_thread_changes_the_index(kind: str) -> None:
    rng = np.random.default_rng(12)
    ids, persons, vectors = clustered(rng, people=60, per_person=10)
    index = filled(kind, ids[:300], persons[:300], vectors[:300])
    errors: list[BaseException] = []
    done = threading.Event()

    def searcher(seed: int) -> None:
        local = np.random.default_rng(seed)
        try:
            while not done.is_set():
                for hits in index.search(vectors[local.integers(0, len(vectors), 4)], 3):
                    assert len({h.person_id for h in hits}) == len(hits)
                    assert all(a.score >= b.score - 1e-6 for a, b in itertools.pairwise(hits))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=searcher, args=(s,)) for s in range(3)]
    for thread in threads:
        thread.start()
    try:
        for start in range(300, 600, 20):  # add the rest in slices, removing older ones as we go
            index.add(ids[start : start + 20], persons[start : start + 20], vectors[start : start + 20])
            index.remove(ids[start - 300 : start - 290].tolist())
        index.remove_person(int(persons[-1]))
    finally:
        done.set()
        for thread in threads:
            thread.join(10)
    assert not errors, errors[0]
    kept = np.ones(len(ids), bool)
    for start in range(300, 600, 20):
        kept[start - 300 : start - 290] = False
    kept &= persons != persons[-1]
    assert index.template_ids() == frozenset(ids[kept].tolist())
    for i in np.flatnonzero(kept)[::25]:
        assert index.search(vectors[i], 1)[0][0].template_id == ids[i]


@pytest.mark.parametrize(("kind", "knob"), [("hnsw", "hnsw_ef_search"), ("ivf", "ivf_nprobe")])
def test_search_knobs_change_without_a_rebuild(kind: str, knob: str) -> None:
    rng = np.random.default_rng(13)
    ids, persons, vectors = clustered(rng, people=300, per_person=10)
    index = filled(kind, ids, persons, vectors)
    ann = index._ann
    queries = unit(vectors[::10] + 0.3 / np.sqrt(DIM) * rng.standard_normal((300, DIM)))
    exact = [brute_force(ids, persons, vectors, q, 1)[0].template_id for q in queries]

    def recall() -> float:
        return float(np.mean([h[0].template_id == e for h, e in zip(index.search(queries, 1), exact, strict=True)]))

    index.set_search_params(**{knob: 1})
    low = recall()
    index.set_search_params(**{knob: 10_000})
    assert index._ann is ann and getattr(index.config, knob) == 10_000
    assert recall() == 1.0 > low
    with pytest.raises(ValueError):
        index.set_search_params(**{knob: 0})
