"""The LFW benchmark harness on a tiny fake LFW (pairs files + aligned cache) with known scores."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.evaluation import (
    FALLBACK_BOX,
    LfwEvaluation,
    fallback_crop,
    format_table,
    kfold_accuracy,
    load_lfw_faces,
    pair_scores,
    read_pairs,
    same_and_folds,
)
from training.evaluation import reference as ref

# Each person's images all get the same 2-d embedding [cos a, sin a]: genuine pairs score 1 and an
# impostor pair scores cos(a1 - a2). Eve is placed on top of Dave: the one impostor pair that fails.
ANGLES = {"Alice": 0, "Bob": 60, "Carol": 120, "Dave": 180, "Eve": 180, "Frank": 240, "Grace": 300}
CODES = {name: 20 + 30 * i for i, name in enumerate(ANGLES)}  # the crop's grey level says who it is
IMAGES = {"Alice": 3, "Bob": 2, "Carol": 2, "Dave": 2, "Eve": 1, "Frank": 2, "Grace": 1}

VIEW2 = """3\t2
Alice\t1\t2
Bob\t1\t2
Alice\t1\tBob\t1
Carol\t1\tDave\t1
Carol\t1\t2
Dave\t1\t2
Dave\t2\tEve\t1
Frank\t1\tGrace\t1
Frank\t1\t2
Alice\t2\t3
Alice\t3\tCarol\t2
Bob\t2\tFrank\t2
"""
DEV_TRAIN = """2
Alice\t1\t3
Frank\t1\t2
Alice\t1\tGrace\t1
Bob\t1\tCarol\t1
"""
DEV_TEST = """2
Carol\t1\t2
Dave\t1\t2
Dave\t1\tEve\t1
Bob\t2\tGrace\t1
"""
NO_FACE = "images_deepfunneled/Carol/Carol_0002.jpg"  # in the cache, detector found nothing
MISSING = "images_deepfunneled/Frank/Frank_0002.jpg"  # not in the cache at all


def _rel(name: str, k: int) -> str:
    return f"images_deepfunneled/{name}/{name}_{k:04d}.jpg"


def _fake_lfw(tmp_path: Path, filler: int = 0) -> tuple[Path, Path]:
    """A fake LFW root (uniform grey 250×250 JPEGs) and its aligned cache; ``filler`` adds extra
    cached people (3 random crops each) that no pair uses, for calibration."""
    root, cache = tmp_path / "lfw", tmp_path / "cache"
    cache.mkdir()
    for name, content in (("pairs.txt", VIEW2), ("pairsDevTrain.txt", DEV_TRAIN), ("pairsDevTest.txt", DEV_TEST)):
        root.mkdir(exist_ok=True)
        (root / name).write_text(content)
    crops, rows = [], []
    for name, count in IMAGES.items():
        for k in range(1, count + 1):
            rel = _rel(name, k)
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (250, 250), (CODES[name],) * 3).save(root / rel, quality=95)
            row = {"file": rel, "identity": f"lfw:{name}", "attributes": {}, "split": "lfw"}
            if rel == MISSING:
                continue
            if rel == NO_FACE:
                rows.append({**row, "status": "no_face", "n_faces": 0})
                continue
            rows.append({**row, "status": "ok", "row": len(crops)})
            crops.append(np.full((112, 112, 3), CODES[name], np.uint8))
    rng = np.random.default_rng(0)
    for i in range(filler):
        for k in range(1, 4):
            rel, identity = _rel(f"Filler{i}", k), f"lfw:Filler{i}"
            rows.append({"file": rel, "identity": identity, "status": "ok", "row": len(crops)})
            crops.append(rng.integers(0, 256, (112, 112, 3), dtype=np.uint8))
    np.save(cache / "shard-00000.npy", np.stack(crops))
    (cache / "shard-00000.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root, cache


def _vector(name: str) -> np.ndarray:
    a = math.radians(ANGLES[name])
    return np.array([math.cos(a), math.sin(a)], np.float32)


def fake_embed(crops: np.ndarray) -> np.ndarray:
    """Reads who it is from the crop's mean grey level (JPEG/resizing noise is far below 15)."""
    levels = crops.reshape(len(crops), -1).mean(axis=1)
    names = list(CODES)
    codes = np.array([CODES[n] for n in names])
    return np.stack([_vector(names[int(np.argmin(np.abs(codes - level)))]) for level in levels])


def _expected_scores(pairs) -> np.ndarray:  # type: ignore[no-untyped-def]
    def who(path: Path) -> str:
        return path.parent.name

    return np.array([float(_vector(who(p.path_a)) @ _vector(who(p.path_b))) for p in pairs])


def test_fallback_crop_takes_the_fixed_box() -> None:
    image = np.zeros((250, 250, 3), np.uint8)
    left, top, right, bottom = FALLBACK_BOX
    image[top:bottom, left:right] = 255
    crop = fallback_crop(image)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8
    assert crop.min() == 255  # exactly the box, nothing of the black border
    big = np.zeros((500, 500, 3), np.uint8)
    big[2 * top : 2 * bottom, 2 * left : 2 * right] = 255
    assert fallback_crop(big).min() == 255  # other sizes: the box scales with the image


def test_load_faces_uses_cache_and_falls_back(tmp_path: Path) -> None:
    root, cache = _fake_lfw(tmp_path)
    files = [_rel("Alice", 1), NO_FACE, MISSING]
    faces = load_lfw_faces(cache, root, files)
    assert faces.status == {files[0]: "ok", NO_FACE: "no_face", MISSING: "missing"}
    assert faces.fallback == {NO_FACE, MISSING}
    assert (faces.crops[0] == CODES["Alice"]).all()
    assert abs(faces.crops[1].mean() - CODES["Carol"]) < 3  # the raw JPEG's fixed-box crop
    with pytest.raises(FileNotFoundError):
        load_lfw_faces(tmp_path / "nowhere", root, files)


def test_lfw_evaluation_known_scores(tmp_path: Path) -> None:
    root, cache = _fake_lfw(tmp_path)
    evaluation = LfwEvaluation(root, cache)
    assert len(evaluation.files()) == len(set(evaluation.files())) == 13
    result = evaluation.evaluate(fake_embed, name="fake", batch_size=4)
    json.dumps(result, allow_nan=False)  # strictly JSON serialisable

    pairs = read_pairs(root / "pairs.txt")
    expected = _expected_scores(pairs)
    np.testing.assert_allclose(pair_scores(pairs, evaluation.embed(fake_embed)), expected, atol=1e-6)
    same, folds = same_and_folds(pairs)
    reference = kfold_accuracy(expected, same, folds=folds)
    v2 = result["view2"]
    assert v2["accuracy"] == pytest.approx(reference.mean) and v2["std"] == pytest.approx(reference.std)
    # Folds 0 and 2 are separable; fold 1 holds the Dave/Eve impostor at score 1 (= genuine): 3 of 4.
    assert v2["fold_accuracies"] == pytest.approx([1.0, 0.75, 1.0])
    assert v2["accuracy"] == pytest.approx(11 / 12)
    assert v2["pairs"] == 12 and v2["genuine_pairs"] == 6 and v2["impostor_pairs"] == 6
    assert v2["tar_at_far"]["0.01"]["tar"] == 0.0  # one of 6 impostors scores 1.0: nothing passes at 1 %
    assert v2["eer"] == pytest.approx(1 / 12)  # FAR 1/6 and FRR 0 at threshold 1.0
    roc = v2["roc"]
    assert roc["far"][0] == 0.0 and roc["tar"][-1] == 1.0 and roc["thresholds"][0] is None  # +inf → null

    # Fallbacks: Carol_0002 (no face) is in 2 View 2 pairs; Frank_0002 (missing) in 2 more.
    assert result["images"]["fallback"] == 2
    assert sorted(result["images"]["fallback_files"]) == sorted([NO_FACE, MISSING])
    assert v2["images_with_fallback"] == 2 and v2["pairs_with_fallback"] == 4

    v1 = result["view1"]
    # DevTrain is separable (genuine 1, impostors <= 0.5); the threshold sits between 0.5 and 1
    assert v1["dev_train_accuracy"] == 1.0 and 0.5 < v1["threshold"] < 1.0
    assert v1["dev_test_accuracy"] == pytest.approx(0.75)  # Dave/Eve again
    assert v1["pairs_with_fallback"] == 1 and v1["dev_train_pairs_with_fallback"] == 1

    table = format_table([result])
    assert "fake" in table and "91.67%" in table and "75.00%" in table


def test_lfw_evaluation_precomputed_embeddings_and_metrics(tmp_path: Path) -> None:
    root, cache = _fake_lfw(tmp_path)
    evaluation = LfwEvaluation(root, cache, view1=False)
    vectors = {f: 3.0 * _vector(Path(f).parent.name) for f in evaluation.files()}  # not unit norm
    cosine = evaluation.evaluate_embeddings(vectors, name="x", fallback=set())
    assert "view1" not in cosine and cosine["images"]["fallback"] == 0 and cosine["view2"]["pairs_with_fallback"] == 0
    assert cosine["view2"]["accuracy"] == pytest.approx(11 / 12)
    euclid = evaluation.evaluate_embeddings(vectors, name="x", metric="euclidean")
    assert euclid["view2"]["accuracy"] == pytest.approx(11 / 12)  # a monotone map of the cosine here
    assert euclid["view2"]["pairs_with_fallback"] == 4  # default: the cache's fallbacks
    with pytest.raises(KeyError):
        evaluation.evaluate_embeddings({}, name="x")
    with pytest.raises(ValueError):
        evaluation.evaluate_embeddings(vectors, metric="manhattan")


def test_evaluate_cli_with_calibration(tmp_path: Path) -> None:
    from models.package import load_package
    from training.cli import main
    from training.export import make_untrained_package

    root, cache = _fake_lfw(tmp_path, filler=40)
    package = make_untrained_package(tmp_path / "pkg", width=0.125)
    out = tmp_path / "out" / "results.json"
    args = ["evaluate", "--package", str(tmp_path / "pkg"), "--lfw-cache", str(cache), "--lfw", str(root)]
    with pytest.raises(SystemExit, match="UNTRAINED"):
        main([*args, "--calibrate", "--out", str(out)])
    main([*args, "--flip", "--calibrate", "--allow-untrained", "--out", str(out), "--device", "cpu"])
    report = json.loads(out.read_text())
    assert report["package"]["model_id"] == package.model_id and report["package"]["flip_tta"] is True
    assert report["results"][0]["view2"]["pairs"] == 12
    assert out.with_suffix(".png").stat().st_size > 0
    loaded = load_package(tmp_path / "pkg", warn_untrained=False)
    assert loaded.calibration.calibrated
    assert [p.far for p in loaded.calibration.thresholds] == [1e-3, 1e-2]  # 1e-4 needs >= 10,000 pairs
    assert "same data as the LFW accuracy figure" in loaded.calibration.measured_on
    assert "not used in training" in loaded.calibration.measured_on
    assert loaded.calibration.metrics["images"] == 11 + 120 and loaded.calibration.metrics["flip_tta"] is True


def test_dlib_cache_is_reused_without_dlib(tmp_path: Path) -> None:
    cache = tmp_path / "dlib.npz"
    vectors = {"a.jpg": np.ones(128, np.float32), "b.jpg": np.arange(128, dtype=np.float32)}
    ref._write_cache(cache, vectors, {"a.jpg": True, "b.jpg": False}, "median_box")

    class Boom:
        fallback = "median_box"

        def describe(self, image: np.ndarray) -> None:
            raise AssertionError("cached files must not be recomputed")

    got = ref.dlib_embeddings(tmp_path, ["b.jpg", "a.jpg"], cache, model=Boom())  # type: ignore[arg-type]
    assert list(got) == ["b.jpg", "a.jpg"]
    np.testing.assert_array_equal(got["b.jpg"], vectors["b.jpg"])
    assert ref.dlib_fallback_files(cache, ["a.jpg", "b.jpg"]) == ["b.jpg"]


def test_dlib_cache_redoes_no_face_images_for_another_fallback(tmp_path: Path) -> None:
    cache = tmp_path / "dlib.npz"
    vectors = {"a.jpg": np.ones(128, np.float32), "b.jpg": np.zeros(128, np.float32)}
    ref._write_cache(cache, vectors, {"a.jpg": True, "b.jpg": False}, "whole_image")
    Image.new("RGB", (250, 250), (128, 128, 128)).save(tmp_path / "b.jpg")
    calls = []

    class Fake:
        fallback = "median_box"

        def describe(self, image: np.ndarray) -> tuple[np.ndarray, bool]:
            calls.append(image.shape)
            return np.full(128, 2.0, np.float32), False

    got = ref.dlib_embeddings(tmp_path, ["a.jpg", "b.jpg"], cache, fallback="median_box", model=Fake())  # type: ignore[arg-type]
    assert calls == [(250, 250, 3)]  # only the no-face image, described again
    assert (got["b.jpg"] == 2.0).all() and (got["a.jpg"] == 1.0).all()
    assert ref.read_dlib_cache(cache).fallback == "median_box"
    with pytest.raises(ValueError, match="fallback"):
        ref.dlib_embeddings(tmp_path, ["a.jpg"], cache, fallback="nose_only")


def test_dlib_reference_on_real_face_and_blank(tmp_path: Path, fixture_face_paths: list[Path]) -> None:
    # The reference is part of the dev install (scripts/bootstrap installs the `reference` extra).
    assert ref.dlib_available(), "dlib reference missing: run ./scripts/bootstrap"
    face = fixture_face_paths[0]
    (tmp_path / "face.jpg").write_bytes(face.read_bytes())
    Image.new("RGB", (250, 250), (128, 128, 128)).save(tmp_path / "blank.jpg")
    cache = tmp_path / "dlib.npz"
    got = ref.dlib_embeddings(tmp_path, ["face.jpg", "blank.jpg"], cache)
    assert got["face.jpg"].shape == (128,) and got["face.jpg"].dtype == np.float32
    assert np.isfinite(got["blank.jpg"]).all()
    assert ref.dlib_fallback_files(cache, ["face.jpg", "blank.jpg"]) == ["blank.jpg"]  # no HOG face
    whole = ref.dlib_embeddings(tmp_path, ["face.jpg", "blank.jpg"], cache, fallback="whole_image")
    np.testing.assert_array_equal(whole["face.jpg"], got["face.jpg"])  # detected: the same descriptor
    assert not np.array_equal(whole["blank.jpg"], got["blank.jpg"])  # another rectangle, another one
