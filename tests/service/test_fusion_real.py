"""Several frames per check, on real LFW faces through the real pipeline (detector, alignment, shipped model),
the service's index and its match rule at the gallery-aware threshold (fused frames at the fused tail's): fusing
the frames' embeddings lets in at least as many enrolled people as requiring every frame to agree, lets in no
stranger and nobody as someone else, and two enrolled people's frames mixed are never a grant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.embedder import FaceEmbedder
from service.domain.matching import Match, MatchRule, combine_frames, fuse_frames, match_face, match_fused
from service.domain.threshold import gallery_threshold
from service.index.vectors import VectorIndex

PEOPLE = 12


def _embed(embedder: FaceEmbedder, path: Path) -> np.ndarray:
    subject = embedder.analyse(path).subject
    assert subject is not None and subject.embedding is not None, path
    return subject.embedding


@pytest.fixture(scope="module")
def faces(lfw_dir: Path, embedder: FaceEmbedder) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``PEOPLE`` enrolled people and ``PEOPLE`` strangers (LFW people with 4+ images, alternately): each a
    ``(4, 512)`` array of their first four images' embeddings."""
    several = [d for d in sorted(lfw_dir.iterdir()) if len(list(d.glob("*.jpg"))) >= 4][: 2 * PEOPLE]
    people = [np.stack([_embed(embedder, p) for p in sorted(d.glob("*.jpg"))[:4]]) for d in several]
    return people[0::2], people[1::2]


def _decide(index: VectorIndex, rule: MatchRule, frames: np.ndarray, how: str) -> Match:
    frame_hits = index.search(frames, 5)
    if how == "fused":
        return match_fused(index.search(fuse_frames(frames), 5)[0], frame_hits, rule)
    return combine_frames([match_face(hits, rule) for hits in frame_hits])


def test_fused_frames_on_real_faces(faces: tuple[list[np.ndarray], list[np.ndarray]], default_package) -> None:  # type: ignore[no-untyped-def]
    enrolled, strangers = faces
    index = VectorIndex(512)
    index.add(np.arange(PEOPLE), np.arange(PEOPLE), np.stack([person[0] for person in enrolled]))
    calibration = default_package.calibration
    single = gallery_threshold(calibration, 1e-3, len(index))
    fused = gallery_threshold(calibration, 1e-3, len(index), fused=True)
    # a fused probe is read on its own tail (held-out identities' frames fused): higher than the single one
    assert (fused.matched, single.matched) == ("fused_vs_best", "single_vs_best")
    assert fused.threshold > single.threshold
    granted = {}
    for how in ("fused", "all_agree"):
        rule = MatchRule((fused if how == "fused" else single).threshold, 0.05)
        outcomes = [_decide(index, rule, person[1:4], how) for person in enrolled]
        assert all(m.person_id in (None, own) for own, m in enumerate(outcomes)), how  # never someone else
        granted[how] = sum(m.person_id == own for own, m in enumerate(outcomes))
        assert not any(_decide(index, rule, person[1:4], how).matched for person in strangers), how
        mixed = [_decide(index, rule, np.stack([enrolled[i][1], enrolled[i + 1][1]]), how) for i in range(PEOPLE - 1)]
        assert not any(m.matched for m in mixed), how
    assert granted["fused"] >= granted["all_agree"] and granted["fused"] > 0, granted


def test_fusing_is_the_normalised_mean(faces: tuple[list[np.ndarray], list[np.ndarray]]) -> None:
    frames = faces[0][0][1:4]
    fused = fuse_frames(frames)
    assert fused.shape == (512,) and np.linalg.norm(fused) == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(fused, frames.mean(0) / np.linalg.norm(frames.mean(0)), atol=1e-6)
    with pytest.raises(ValueError, match="expected embeddings"):
        fuse_frames(np.zeros((0, 512), np.float32))
