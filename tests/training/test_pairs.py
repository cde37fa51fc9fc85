"""LFW pair lists: a tiny inline file, malformed input, and the real View 1 / View 2 files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from training.evaluation import Pair, parse_pairs, read_pairs, same_and_folds

VIEW2 = """2\t2
Alice\t1\t2
Bob\t3\t10
Alice\t1\tBob\t2
Carol\t12\tDave\t1
Erin\t1\t2
Frank\t100\t101
Erin\t2\tGrace\t1
Heidi\t1\tIvan\t3

"""

VIEW1 = """2\r
Alice\t1\t2\r
Bob\t3\t4\r
Alice\t1\tBob\t2\r
Carol\t1\tDave\t1\r
"""


def test_view2_inline_file() -> None:
    pairs = parse_pairs(VIEW2.splitlines())
    assert [p.fold for p in pairs] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert [p.same for p in pairs] == [True, True, False, False] * 2
    assert pairs[0] == Pair(
        Path("images_deepfunneled/Alice/Alice_0001.jpg"), Path("images_deepfunneled/Alice/Alice_0002.jpg"), True, 0
    )
    assert pairs[3].path_a == Path("images_deepfunneled/Carol/Carol_0012.jpg")
    assert pairs[3].path_b == Path("images_deepfunneled/Dave/Dave_0001.jpg")
    assert pairs[5].path_b == Path("images_deepfunneled/Frank/Frank_0101.jpg")
    same, folds = same_and_folds(pairs)
    assert same.tolist() == [True, True, False, False] * 2
    assert folds.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]


def test_view1_inline_file_with_crlf_and_other_image_dir(tmp_path: Path) -> None:
    path = tmp_path / "pairsDevTest.txt"
    path.write_bytes(VIEW1.encode())
    pairs = read_pairs(path, image_dir="lfw")
    assert [(p.same, p.fold) for p in pairs] == [(True, 0), (True, 0), (False, 0), (False, 0)]
    assert pairs[1].path_b == Path("lfw/Bob/Bob_0004.jpg")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("two\nA\t1\t2\nA\t1\tB\t1\n", "header"),
        ("1 1 1\nA\t1\t2\nA\t1\tB\t1\n", "header"),
        ("2\nA\t1\t2\nA\t1\tB\t1\n", "promises"),
        ("1\nA\t1\tB\t2\nA\t1\tB\t1\n", r":2: expected a same-person line"),
        ("1\nA\t1\t2\nA\t1\t2\n", r":3: expected a different-person line"),
        ("1\nA\tone\t2\nA\t1\tB\t1\n", "integers"),
        ("1\nA\t0\t2\nA\t1\tB\t1\n", "1-based"),
        ("1\nA\t1\t2\nA\t1\tA\t3\n", "same person twice"),
    ],
)
def test_malformed_files_are_rejected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_pairs(text.splitlines())


@pytest.fixture(scope="module")
def lfw_dir(data_dir: Path) -> Path:
    """The LFW root holding the pair lists (``data_dir`` from tests/conftest.py skips, or fails under
    ``FACEGATE_REQUIRE_DATA=1``, when the shared data folder is missing)."""
    return data_dir / "lfw"


def test_real_view2_pairs(lfw_dir: Path) -> None:
    pairs = read_pairs(lfw_dir / "pairs.txt")
    assert len(pairs) == 6000
    assert sum(p.same for p in pairs) == 3000
    assert Counter(p.fold for p in pairs) == dict.fromkeys(range(10), 600)
    same, folds = same_and_folds(pairs)
    # Each fold: 300 same-person pairs, then 300 different-person pairs, folds in file order.
    assert np.array_equal(same, np.tile(np.repeat([True, False], 300), 10))
    assert np.array_equal(folds, np.repeat(np.arange(10), 600))
    assert pairs[0].path_a == Path("images_deepfunneled/Abel_Pacheco/Abel_Pacheco_0001.jpg")
    assert pairs[0].path_b == Path("images_deepfunneled/Abel_Pacheco/Abel_Pacheco_0004.jpg")
    missing = [path for p in pairs for path in (p.path_a, p.path_b) if not (lfw_dir / path).is_file()]
    assert not missing, f"{len(missing)} images missing, e.g. {missing[:3]}"


@pytest.mark.parametrize(("name", "count"), [("pairsDevTest.txt", 1000), ("pairsDevTrain.txt", 2200)])
def test_real_view1_pairs(lfw_dir: Path, name: str, count: int) -> None:
    pairs = read_pairs(lfw_dir / name)
    assert len(pairs) == count
    assert [p.same for p in pairs] == [True] * (count // 2) + [False] * (count // 2)
    assert {p.fold for p in pairs} == {0}
    assert all(p.path_a.parts[0] == "images_deepfunneled" for p in pairs)
    assert all((lfw_dir / path).is_file() for p in pairs[:50] for path in (p.path_a, p.path_b))
