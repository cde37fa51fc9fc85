"""The study's data: a seeded identity subset of a prepared face cache, and a synthetic LFW for ``--quick``.

Both are written in ``training.prepare``'s cache format, so that the loop and the LFW evaluation read them
through their ordinary code paths.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from training.prepare import iter_cache, read_manifest

logger = logging.getLogger(__name__)


def write_cache(out: Path, crops: np.ndarray, rows: list[dict[str, Any]], shard_size: int = 512) -> None:
    """Aligned crops and their manifest rows as a cache that ``training.prepare``'s readers accept."""
    out.mkdir(parents=True, exist_ok=True)
    for k, start in enumerate(range(0, len(rows), shard_size)):
        np.save(out / f"shard-{k:05d}.npy", np.ascontiguousarray(crops[start : start + shard_size]))
        with (out / f"shard-{k:05d}.jsonl").open("w") as fh:
            for i, row in enumerate(rows[start : start + shard_size]):
                fh.write(json.dumps({**row, "status": "ok", "row": i}) + "\n")


def celeba_subset(source: Path, out: Path, identities: int, seed: int) -> Path:
    """A cache of ``identities`` identities drawn (seeded) from ``source``, all their faces; reused when
    ``out`` already holds the same draw."""
    stamp = {"source": str(source), "identities": identities, "seed": seed}
    marker = out / "subset.json"
    if marker.exists() and json.loads(marker.read_text()).get("stamp") == stamp:
        return out
    counts: dict[str, int] = defaultdict(int)
    for row in read_manifest(source):
        counts[row["identity"]] += row["status"] == "ok"
    names = sorted(name for name, n in counts.items() if n >= 2)
    chosen = set(np.random.default_rng(seed).choice(names, size=min(identities, len(names)), replace=False))
    picked = [
        (row, np.array(crop)) for row, crop in iter_cache(source) if crop is not None and row["identity"] in chosen
    ]
    keep = ("file", "identity", "attributes", "split")
    shutil.rmtree(out, ignore_errors=True)
    write_cache(out, np.stack([c for _, c in picked]), [{k: r[k] for k in keep if k in r} for r, _ in picked])
    marker.write_text(json.dumps({"stamp": stamp, "identities": len(chosen), "images": len(picked)}, indent=2) + "\n")
    logger.info("subset %s: %d identities, %d faces", out, len(chosen), len(picked))
    return out


def synthetic_lfw(
    out: Path, identities: int, per_identity: int, pairs_per_fold: int, seed: int = 1
) -> tuple[Path, Path]:
    """A stand-in LFW (``pairs.txt`` with 10 folds and an aligned cache) of synthetic identities unseen in training."""
    from training.data.dataset import synthetic_arrays
    from training.evaluation.pairs import image_path

    data = synthetic_arrays(identities, per_identity, 0, seed=seed)
    names = [f"Synthetic_{k:03d}" for k in range(identities)]
    rows = [
        {"file": str(image_path(names[label], i % per_identity + 1)), "identity": names[label], "attributes": {}}
        for i, label in enumerate(data.labels)
    ]
    write_cache(out / "lfw_cache", data.crops, rows)
    rng = np.random.default_rng(seed)
    lines = [f"10\t{pairs_per_fold}"]
    for _ in range(10):
        for k in rng.integers(0, identities, pairs_per_fold):
            a, b = rng.choice(per_identity, 2, replace=False) + 1
            lines.append(f"{names[k]}\t{a}\t{b}")
        for _ in range(pairs_per_fold):
            a, b = rng.choice(identities, 2, replace=False)
            lines.append(f"{names[a]}\t1\t{names[b]}\t1")
    (out / "lfw").mkdir(parents=True, exist_ok=True)
    (out / "lfw" / "pairs.txt").write_text("\n".join(lines) + "\n")
    return out / "lfw", out / "lfw_cache"
