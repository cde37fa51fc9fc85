"""Searching by mean template and by max(best, mean), against brute force: the means follow every change (add,
replace into another person, remove, delete a person, reload from a file), for each index kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.index.vectors import IndexConfig, IndexStamp, VectorIndex

DIM = 16
KINDS = {
    "flat": IndexConfig(kind="flat"),
    "hnsw": IndexConfig(kind="hnsw", hnsw_m=16, hnsw_ef_construction=80, hnsw_ef_search=64),
}


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def _brute(templates: dict[int, tuple[int, np.ndarray]], query: np.ndarray, by: str) -> list[tuple[int, float]]:
    """(person, score) best first: every person's best, mean or max(best, mean) score, computed directly."""
    people: dict[int, list[np.ndarray]] = {}
    for person, vector in templates.values():
        people.setdefault(person, []).append(vector)
    scored = []
    for person, vectors in people.items():
        best = max(float(v @ query) for v in vectors)
        mean = float(_unit(np.mean(vectors, axis=0)) @ query)
        scored.append((person, {"best": best, "mean": mean, "max": max(best, mean)}[by]))
    return sorted(scored, key=lambda item: -item[1])


def _check(index: VectorIndex, templates: dict[int, tuple[int, np.ndarray]], queries: np.ndarray, k: int) -> None:
    for by in ("mean", "max"):
        for query, hits in zip(queries, index.search(queries, k, by=by), strict=True):  # type: ignore[arg-type]
            want = _brute(templates, query, by)[:k]
            assert [h.person_id for h in hits] == [p for p, _ in want], by
            assert [h.score for h in hits] == pytest.approx([s for _, s in want], abs=1e-5), by
            for hit in hits:  # the hit names the person's best template for this face
                assert templates[hit.template_id][0] == hit.person_id
    assert index.people_count() == len({person for person, _ in templates.values()})


@pytest.mark.parametrize("kind", list(KINDS))
def test_means_follow_every_change(kind: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    centres = _unit(rng.standard_normal((12, DIM)))
    templates: dict[int, tuple[int, np.ndarray]] = {}
    for tid in range(36):  # 12 people, 3 templates each, scattered around their centre
        person = tid % 12
        templates[tid] = (person, _unit(centres[person] + 0.6 * rng.standard_normal(DIM) / np.sqrt(DIM)))
    index = VectorIndex(DIM, KINDS[kind])
    index.add(
        np.array(list(templates)),
        np.array([p for p, _ in templates.values()]),
        np.stack([v for _, v in templates.values()]),
    )
    queries = _unit(centres + 0.5 * rng.standard_normal((12, DIM)) / np.sqrt(DIM))
    _check(index, templates, queries, 5)

    before = index.search(queries[0], 1, by="mean")[0][0]
    assert before.person_id == 0
    index.remove([0])  # one of person 0's templates: their mean moves
    del templates[0]
    after = index.search(queries[0], 1, by="mean")[0][0]
    assert after.person_id == 0 and after.score != pytest.approx(before.score, abs=1e-6)
    _check(index, templates, queries, 5)

    moved = _unit(rng.standard_normal(DIM))
    index.add(np.array([13]), np.array([5]), moved[None, :])  # template 13 leaves person 1 for person 5
    templates[13] = (5, moved)
    index.add(np.array([100]), np.array([40]), queries[3][None, :])  # a new person, exactly the query
    templates[100] = (40, queries[3])
    _check(index, templates, queries, 5)
    assert index.search(queries[3], 1, by="mean")[0][0].person_id == 40

    index.remove_person(2)
    templates = {t: pv for t, pv in templates.items() if pv[0] != 2}
    _check(index, templates, queries, 5)

    path = tmp_path / "index.fgi"
    index.save(path, IndexStamp("m", 1, DIM, kind))
    loaded, _ = VectorIndex.load(path, dim=DIM, config=KINDS[kind])
    _check(loaded, templates, queries, 5)
    loaded.remove(list(templates))
    assert loaded.search(queries, 3, by="mean") == [[] for _ in queries] and loaded.people_count() == 0


def test_a_bad_match_mode_is_refused() -> None:
    index = VectorIndex(DIM)
    with pytest.raises(ValueError, match="best, mean or max"):
        index.search(np.eye(DIM, dtype=np.float32)[0], 1, by="median")  # type: ignore[arg-type]
