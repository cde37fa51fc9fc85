"""Compact face packs (``training.shards``): a cache and its teacher survive pack → unpack."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.data.dataset import arrays_from_cache
from training.prepare import load_cache
from training.shards import pack, unpack


def write_cache(folder: Path, faces: np.ndarray) -> list[dict]:
    """A cache in ``training.prepare``'s format: one shard, every face ok but one sample without a face."""
    folder.mkdir(parents=True)
    np.save(folder / "shard-00000.npy", faces)
    rows = []
    for i in range(len(faces)):
        attributes = {"Male": i % 2, "Smiling": 1} if i != 3 else {"Male": 0}  # face 3 lacks a label
        rows.append(
            {
                "file": f"p{i // 3}/{i}.jpg",
                "identity": f"set:p{i // 3}",
                "attributes": attributes,
                "split": "train",
                "status": "ok",
                "row": i,
            }
        )
    no_face = {
        "file": "p9/x.jpg",
        "identity": "set:p9",
        "attributes": {},
        "split": "train",
        "status": "no_face",
        "row": None,
    }
    with (folder / "shard-00000.jsonl").open("w") as fh:
        for row in [*rows[:2], no_face, *rows[2:]]:
            fh.write(json.dumps(row) + "\n")
    return rows


def smooth_faces(n: int, seed: int = 0) -> np.ndarray:
    """Face-like test images for a lossy codec: smooth grey shading with a skin-like tint."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    faces = []
    for _ in range(n):
        low = Image.fromarray(rng.integers(40, 220, size=(4, 4)).astype(np.uint8))
        grey = np.asarray(low.resize((112, 112), Image.Resampling.BILINEAR)).astype(np.float32)
        faces.append(np.clip(np.stack([grey * 1.1, grey * 0.9, grey * 0.8], axis=-1), 0, 255).astype(np.uint8))
    return np.stack(faces)


def test_pack_then_unpack_gives_back_the_cache_and_the_teacher(tmp_path: Path) -> None:
    faces = smooth_faces(7)
    rows = write_cache(tmp_path / "cache", faces)
    teacher = np.random.default_rng(1).normal(0.0, 0.1, size=(7, 128)).astype(np.float32) + 0.05
    np.save(tmp_path / "teacher.npy", teacher)

    info = pack(tmp_path / "cache", tmp_path / "pack", teacher=tmp_path / "teacher.npy", quality=90)
    assert (info["faces"], info["identities"], info["shards"]) == (7, 3, 1)
    assert info["bytes"] < faces.nbytes / 5  # compact: WebP, not raw pixels

    back = unpack(tmp_path / "pack", tmp_path / "back")
    assert back == info
    crops, back_rows = load_cache(tmp_path / "back")
    assert crops.shape == faces.shape and crops.dtype == np.uint8
    assert np.sqrt(np.mean((crops.astype(float) - faces) ** 2)) < 4.0  # lossy, but close
    keep = ("file", "identity", "attributes", "split")
    assert [{k: r[k] for k in keep} for r in back_rows] == [{k: r[k] for k in keep} for r in rows]

    restored = np.load(tmp_path / "back" / "teacher.npy")
    step = np.abs(teacher).max() / 127
    assert np.abs(restored - teacher).max() <= step / 2 + 1e-7  # int8 on one scale: half a step at most

    # The unpacked cache trains like the original: same labels, attributes (NaN where missing), teacher rows.
    original, _ = arrays_from_cache(tmp_path / "cache", ("Male", "Smiling"), tmp_path / "teacher.npy")
    rebuilt, _ = arrays_from_cache(tmp_path / "back", ("Male", "Smiling"), tmp_path / "back" / "teacher.npy")
    np.testing.assert_array_equal(rebuilt.labels, original.labels)
    np.testing.assert_array_equal(rebuilt.attributes, original.attributes)
    assert np.isnan(rebuilt.attributes[3, 1])


def test_pack_refuses_a_teacher_of_another_length_and_unpack_a_foreign_folder(tmp_path: Path) -> None:
    write_cache(tmp_path / "cache", smooth_faces(4))
    np.save(tmp_path / "teacher.npy", np.zeros((5, 128), np.float32))
    with pytest.raises(ValueError, match="5 teacher rows for 4 faces"):
        pack(tmp_path / "cache", tmp_path / "pack", teacher=tmp_path / "teacher.npy")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "pack.json").write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="not a facegate-pack-1 pack"):
        unpack(tmp_path / "other", tmp_path / "back")
