"""Identification search at 100k templates: exact (flat) against HNSW and IVF, on real face embeddings.

Templates are the shipped model's embeddings of the aligned CelebA and LFW crops cached by ``training.prepare``
(``/work/data/{celeba,lfw}_aligned``), plus the embeddings of their mirrored crops to reach 100k. Queries are
held-out images of enrolled identities (neither they nor their mirror are enrolled). The embeddings are cached
under ``--cache`` so that reruns skip the model.

    .venv/bin/python bench/identify_search.py
    .venv/bin/python bench/identify_search.py --startup [--templates 100000]   # restart: build vs saved graph

``--startup`` times what a restart costs the index at ``--templates`` HNSW templates: building the graph from the
index file's vectors (every start before the graph was saved) against loading the saved graph, with the files'
sizes and the process's peak RSS. The vectors are random unit vectors (the build and load times depend on the
count and dimension, not on what the vectors are; the embedding cache is not needed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata as md
import json
import logging
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from models.package import load_package
from service.index.vectors import IndexConfig, VectorIndex

K = 5  # people per query: the service's default top_k
REPO = Path(__file__).resolve().parent.parent
DATA = Path("/work/data")
CACHES = (DATA / "celeba_aligned", DATA / "lfw_aligned")
logger = logging.getLogger("identify_search")


def embed_caches(cache_dir: Path, *, batch: int = 256, threads: int = 2) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(embeddings, mirrored-crop embeddings, identity per row) of every cached crop, from the .npy cache when
    it was made by the same model, else computed (both cores, batches of ``batch``) and cached."""
    import torch

    from models.embedder import FaceEmbedder
    from training.prepare import iter_cache

    embedder = FaceEmbedder(device="cpu", batch_size=batch)
    stem = cache_dir / f"embeddings-{embedder.model_id}"
    paths = [stem.with_name(stem.name + s) for s in (".npy", "-mirror.npy", "-identities.json")]
    if all(p.exists() for p in paths):
        return np.load(paths[0]), np.load(paths[1]), json.loads(paths[2].read_text())
    torch.set_num_threads(threads)
    cache_dir.mkdir(parents=True, exist_ok=True)
    plain: list[np.ndarray] = []
    mirror: list[np.ndarray] = []
    identities: list[str] = []
    pending: list[np.ndarray] = []
    start = time.perf_counter()

    def flush() -> None:
        crops = np.stack(pending)
        plain.append(embedder.embed_crops(crops, flip_tta=False))
        mirror.append(embedder.embed_crops(crops[:, :, ::-1], flip_tta=False))
        pending.clear()
        done = sum(len(p) for p in plain)
        logger.info("embedded %d crops (x2 with mirrors) in %.0f s", done, time.perf_counter() - start)

    for root in CACHES:
        for row, crop in iter_cache(root):
            if crop is None:
                continue
            identities.append(f"{root.name}:{row['identity']}")
            pending.append(crop)
            if len(pending) == batch:
                flush()
    if pending:
        flush()
    emb, emb_mirror = np.concatenate(plain), np.concatenate(mirror)
    for path, array in zip(paths[:2], (emb, emb_mirror), strict=True):
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, array)
        os.replace(tmp, path)
    paths[2].write_text(json.dumps(identities))
    return emb, emb_mirror, identities


def split(
    emb: np.ndarray, mirror: np.ndarray, identities: list[str], *, n_templates: int, n_queries: int, seed: int
) -> dict[str, Any]:
    """Queries: one image each of ``n_queries`` identities that have ≥ 2 images. Templates: every other image,
    then mirrored crops of non-query images until ``n_templates``. Template ids 0..n-1, person id = identity."""
    rng = np.random.default_rng(seed)
    names, person = np.unique(np.asarray(identities), return_inverse=True)
    counts = np.bincount(person)
    eligible = np.flatnonzero(counts >= 2)
    chosen = rng.choice(eligible, size=n_queries, replace=False)
    query_rows = np.array([rng.choice(np.flatnonzero(person == p)) for p in chosen])
    is_query = np.zeros(len(emb), bool)
    is_query[query_rows] = True
    plain = np.flatnonzero(~is_query)
    n_mirror = n_templates - len(plain)
    if n_mirror < 0:
        plain, n_mirror = plain[:n_templates], 0
    mirrored = rng.permutation(np.flatnonzero(~is_query))[:n_mirror]
    if len(mirrored) < n_mirror:
        raise SystemExit(f"only {len(plain) + len(mirrored)} templates available, {n_templates} asked")
    vectors = np.concatenate([emb[plain], mirror[mirrored]])
    return {
        "vectors": np.ascontiguousarray(vectors, np.float32),
        "persons": np.concatenate([person[plain], person[mirrored]]).astype(np.int64),
        "ids": np.arange(len(vectors), dtype=np.int64),
        "queries": np.ascontiguousarray(emb[query_rows], np.float32),
        "query_persons": person[query_rows].astype(np.int64),
        "counts": {
            "images": len(emb),
            "identities": len(names),
            "templates": len(vectors),
            "templates_plain": len(plain),
            "templates_mirrored": len(mirrored),
            "enrolled_identities": len(np.unique(np.concatenate([person[plain], person[mirrored]]))),
            "queries": n_queries,
        },
    }


def build(kind: str, data: dict[str, Any], config: IndexConfig) -> tuple[VectorIndex, float]:
    began = time.perf_counter()
    index = VectorIndex(data["vectors"].shape[1], config)
    index.add(data["ids"], data["persons"], data["vectors"])
    seconds = time.perf_counter() - began
    assert index.structure() == ("exact" if kind == "flat" else kind), index.structure()
    return index, seconds


Search = Callable[[np.ndarray], list[Any]]


def settings_of(index: VectorIndex, label: str, knob: str | None, values: list[int]) -> list[tuple[str, str, Search]]:
    """(index label, parameter, search for one query) for each value of ``knob`` on one built index."""
    if knob is None:
        return [(label, "–", lambda q: index.search(q, K)[0])]
    out: list[tuple[str, str, Search]] = []
    for value in values:

        def search(q: np.ndarray, value: int = value) -> list[Any]:
            index.set_search_params(**{knob: value})  # a lock and a field write: noise next to a search
            return index.search(q, K)[0]

        out.append((label, f"{knob.split('_', 1)[1]}={value}", search))
    return out


def raw_flat(vectors: np.ndarray) -> Search:
    """faiss's IndexFlatIP searched directly for 4·k templates: the floor under the exact VectorIndex search."""
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)

    def search(q: np.ndarray) -> list[Any]:
        index.search(q[None], 4 * K)
        return []

    return search


def time_interleaved(
    settings: list[tuple[str, str, Search]], queries: np.ndarray, warmup: int
) -> list[tuple[list[Any], np.ndarray]]:
    """Every setting on every query, one query at a time (as a door request comes), the order of the settings
    rotating from query to query so that load from other processes falls on all of them alike.
    Per setting: (hits per query, wall ms per query)."""
    for q in queries[:warmup]:
        for _, _, search in settings:
            search(q)
    hits: list[list[Any]] = [[None] * len(queries) for _ in settings]
    times = np.empty((len(settings), len(queries)))
    for i, q in enumerate(queries):
        for j in np.roll(np.arange(len(settings)), i).tolist():
            search = settings[j][2]
            began = time.perf_counter()
            hits[j][i] = search(q)
            times[j, i] = (time.perf_counter() - began) * 1000
    return list(zip(hits, times, strict=True))


def latency(times: np.ndarray) -> dict[str, float]:
    return {
        "p50_ms": float(np.percentile(times, 50)),
        "p90_ms": float(np.percentile(times, 90)),
        "p99_ms": float(np.percentile(times, 99)),
        "mean_ms": float(times.mean()),
    }


def decide(hits: list[Any], threshold: float, margin: float) -> int | None:
    """The service's match rule (DESIGN.md): best person ≥ threshold and ahead of the next by ≥ margin."""
    if not hits or hits[0].score < threshold:
        return None
    if len(hits) > 1 and hits[0].score - hits[1].score < margin:
        return None
    return int(hits[0].person_id)


def agreement(hits: list[Any], exact: list[Any], threshold: float, margin: float) -> dict[str, float]:
    """Against the exact search on the same queries: top-1 template (the nearest neighbour itself), top-1 person,
    the same top-1 among the queries the exact search would accept, and the same access decision."""
    pairs = list(zip(hits, exact, strict=True))
    accepted = [(h, e) for h, e in pairs if decide(e, threshold, margin) is not None]
    return {
        "recall_at_1_template": float(np.mean([bool(h) and h[0].template_id == e[0].template_id for h, e in pairs])),
        "recall_at_1_person": float(np.mean([bool(h) and h[0].person_id == e[0].person_id for h, e in pairs])),
        "recall_at_1_accepted": float(np.mean([bool(h) and h[0].template_id == e[0].template_id for h, e in accepted]))
        if accepted
        else float("nan"),
        "same_decision": float(
            np.mean([decide(h, threshold, margin) == decide(e, threshold, margin) for h, e in pairs])
        ),
    }


def machine() -> dict[str, Any]:
    found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    return {
        "platform": platform.platform(),
        "cpu": found.group(1).strip() if found else platform.processor(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "python": sys.version.split()[0],
        "versions": {p: md.version(p) for p in ("faiss-cpu", "numpy", "torch")},
        "load_avg_start": os.getloadavg(),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    info = machine()
    emb, mirror, identities = embed_caches(args.cache)
    data = split(emb, mirror, identities, n_templates=args.templates, n_queries=args.queries, seed=args.seed)
    queries = data["queries"]
    package = load_package()
    threshold, margin = package.calibration.threshold_for(args.far), args.margin
    variants: list[tuple[str, IndexConfig, str | None, list[int]]] = [
        ("flat", IndexConfig(kind="flat"), None, []),
        ("hnsw", IndexConfig(kind="hnsw"), "hnsw_ef_search", args.ef_search),
        ("ivf", IndexConfig(kind="ivf"), "ivf_nprobe", args.nprobe),
        ("ivf", IndexConfig(kind="ivf", ivf_nlist=args.ivf_small_nlist), "ivf_nprobe", args.nprobe),
    ]
    settings: list[tuple[str, str, Search]] = []
    build_s: dict[str, float] = {}
    for kind, config, knob, values in variants:  # builds use every core (OpenMP's default)
        index, seconds = build(kind, data, config)
        if kind == "flat":
            label = "flat (exact)"
        elif kind == "hnsw":
            label = f"hnsw (M={config.hnsw_m}, efC={config.hnsw_ef_construction})"
        else:
            label = f"ivf (nlist={getattr(index._ann, 'nlist', '?')})"
        build_s[label] = seconds
        logger.info("%s built in %.1f s", label, seconds)
        settings += settings_of(index, label, knob, values)
        if kind == "flat":
            settings.append(("faiss IndexFlatIP alone", f"k={4 * K}", raw_flat(data["vectors"])))
    # Searches run on one thread: VectorIndex sets that per call (IndexConfig.search_threads=1); this thread's
    # setting is for the raw faiss row.
    faiss.omp_set_num_threads(1)
    began = time.perf_counter()
    results = time_interleaved(settings, queries, args.warmup)
    logger.info("%d settings × %d queries timed in %.0f s", len(settings), len(queries), time.perf_counter() - began)
    exact = results[0][0]
    rows: list[dict[str, Any]] = []
    for (label, param, _), (hits, times) in zip(settings, results, strict=True):
        row = {"index": label, "param": param, **latency(times)}
        if label != "faiss IndexFlatIP alone":
            row |= agreement(hits, exact, threshold, margin)
        rows.append(row)
    decisions = [decide(e, threshold, margin) for e in exact]
    persons = data["query_persons"].tolist()
    return {
        "benchmark": "identify_search",
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": info | {"load_avg_end": os.getloadavg()},
        "data": data["counts"] | {"seed": args.seed, "caches": [str(c) for c in CACHES]},
        "model": {"model_id": package.model_id, "trained": package.trained},
        "k": K,
        "warmup": args.warmup,
        "search_threads": 1,
        "rule": {"far": args.far, "threshold": threshold, "margin": margin},
        "note": "single-query latency through VectorIndex.search (validation, faiss, aggregation into people) on one "
        "OpenMP thread, all settings interleaved query by query; recall and agreement are against the exact (flat) "
        "answer on the same queries",
        "exact_rank1_identification": float(
            np.mean([bool(h) and h[0].person_id == p for h, p in zip(exact, persons, strict=True)])
        ),
        "exact_accepted": float(np.mean([d is not None for d in decisions])),
        "exact_accepted_correct": float(
            np.mean([d == p for d, p in zip(decisions, persons, strict=True) if d is not None])
        ),
        "build_s": build_s,
        "rows": rows,
        "raw_ms": {f"{s[0]} {s[1]}": r[1].round(4).tolist() for s, r in zip(settings, results, strict=True)},
    }


def table(res: dict[str, Any]) -> str:
    keys = ("recall_at_1_template", "recall_at_1_person", "recall_at_1_accepted", "same_decision")
    lines = [
        "| index | search | p50 ms | p90 ms | p99 ms | recall@1 template | recall@1 person | recall@1 accepted "
        "| same decision |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in res["rows"]:
        figures = " | ".join(f"{r[key]:.3f}" if key in r else "–" for key in keys)
        lines.append(
            f"| {r['index']} | {r['param']} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {figures} |"
        )
    c, rule = res["data"], res["rule"]
    builds = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in res["build_s"].items())
    lines += [
        "",
        f"{c['templates']} templates ({c['templates_plain']} images + {c['templates_mirrored']} mirrored crops) of "
        f"{c['enrolled_identities']} identities; {c['queries']} held-out queries; top-{res['k']} people per query.",
        f"Build (both cores): {builds}.",
        f"Rule: threshold {rule['threshold']:.3f} (FAR {rule['far']:g}), margin {rule['margin']}. Exact search: "
        f"rank-1 identity right for {res['exact_rank1_identification']:.1%} of the queries; accepts "
        f"{res['exact_accepted']:.1%}, of which {res['exact_accepted_correct']:.1%} are the right person.",
    ]
    return "\n".join(lines)


def startup(templates: int, dim: int = 512, seed: int = 0) -> dict[str, Any]:
    """Seconds to bring a saved HNSW index back: rebuilt from its vectors (before) and loaded with its graph (now)."""
    import resource
    import tempfile

    from service.index.graphfile import graph_path
    from service.index.vectors import IndexStamp

    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((templates, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1, templates + 1, dtype=np.int64)
    config = IndexConfig(kind="hnsw")
    stamp = IndexStamp("fg1-bench", 1, dim, "hnsw")
    load_avg = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="facegate-startup-") as tmp:
        path = Path(tmp) / "index.fgi"
        began = time.perf_counter()
        built = VectorIndex(dim, config)
        built.add(ids, ids // 5, vectors)
        build_s = time.perf_counter() - began
        load_avg.append(os.getloadavg()[0])
        began = time.perf_counter()
        built.save(path, stamp)
        save_s = time.perf_counter() - began
        sizes = {"index_file_mb": path.stat().st_size / 2**20, "graph_file_mb": graph_path(path).stat().st_size / 2**20}
        query = vectors[:200]
        expected = built.search(query, 5)
        del built
        began = time.perf_counter()
        loaded, _ = VectorIndex.load(path, dim=dim, config=config)
        load_s = time.perf_counter() - began
        load_avg.append(os.getloadavg()[0])
        same = loaded.search(query, 5) == expected
        assert loaded.structure() == "hnsw"
    return {
        "templates": templates,
        "dim": dim,
        "build_from_vectors_s": build_s,
        "save_s": save_s,
        "load_saved_graph_s": load_s,
        "speed_up": build_s / load_s,
        "same_results_after_load": same,
        **sizes,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_avg": load_avg,
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--cache", type=Path, default=DATA / "bench_cache", help="embedding cache folder")
    parser.add_argument("--embed-only", action="store_true", help="fill the embedding cache and stop")
    parser.add_argument("--templates", type=int, default=100_000, help="templates enrolled (default 100000)")
    parser.add_argument("--queries", type=int, default=1000, help="held-out queries (default 1000)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed queries through every setting first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[16, 32, 64, 128, 192, 256, 384])
    parser.add_argument("--nprobe", type=int, nargs="+", default=[4, 16, 32, 64, 128, 256])
    parser.add_argument("--ivf-small-nlist", type=int, default=316, help="a second IVF with fewer cells (~√N)")
    parser.add_argument("--far", type=float, default=1e-3, help="the rule's false-accept rate (calibration.json)")
    parser.add_argument("--margin", type=float, default=0.05, help="the rule's margin (service default 0.05)")
    parser.add_argument("--out", type=Path, default=None, help="JSON (default bench/results/identify_search-DATE.json)")
    parser.add_argument("--startup", action="store_true", help="time an HNSW restart: build against saved graph")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.startup:
        figures = startup(args.templates, seed=args.seed)
        out = args.out or REPO / "bench" / "results" / f"index_startup-{dt.date.today().isoformat()}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2) + "\n")
        print(json.dumps(figures, indent=2))
        return
    if args.embed_only:
        embed_caches(args.cache)
        return
    res = run(args)
    out = args.out or REPO / "bench" / "results" / f"identify_search-{dt.date.today().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    m = res["machine"]
    print(
        f"{res['date']}  {m['cpu']}, {m['cores_usable']} cores, {m['platform']}, Python {m['python']}, "
        f"faiss {m['versions']['faiss-cpu']}, load avg {m['load_avg_start'][0]:.2f} → {m['load_avg_end'][0]:.2f}\n"
    )
    print(table(res))
    print(f"\nJSON: {out}")


if __name__ == "__main__":
    main()
