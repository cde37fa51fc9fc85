"""Open-set identification, as a door does it: FNIR at a stated FPIR, by gallery size (NIST FRVT 1:N terms).

    nice -n 10 .venv/bin/python bench/open_set.py [--write-calibration]
    .venv/bin/python bench/open_set.py --calibrate-only   # a new model: calibrate and write, nothing else

Faces: the shipped model's embeddings (``bench/open_set_data.py``: embedded once with ``FaceEmbedder.embed_crops``,
cached under ``--work``) of the aligned caches of LFW, AT&T, the CelebA identity set and, when present, CelebA
in-the-wild crops. Calibration (the impostor tail, the per-pair thresholds): the 300 CelebA identities that
training held out (neither in training nor in LFW); ``--write-calibration`` stores it in the shipped package's
calibration.json (the model id does not change: it hashes the architecture and weights only).

Galleries of 10^2..10^5 people are enrolled into the service's own :class:`service.index.vectors.VectorIndex`
(flat) and every decision is the service's :func:`service.domain.matching.match_face` / ``combine_frames`` /
``fuse_frames``; the threshold for a target FPIR at a gallery of N templates is the service's
:func:`service.domain.threshold.gallery_threshold`. Mated subjects: half of LFW's people with several images (first
image enrolled, the others probe); non-mated probes: every image of the other LFW people, and AT&T (transfer).
The galleries are filled with CelebA training identities, then their other images and the in-the-wild crops as
one-image people (so above ~9,000 some fillers share an identity: said in the results). Writes
``bench/results/open_set-DATE.json`` and ``.png`` and prints the markdown tables for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from open_set_data import Faces, Protocol, build_protocol, celeba_held_out, embed_cache
from open_set_equal import fnir_at_fpir, scores_of
from open_set_tails import held_out_tails

from models.package import DEFAULT_PACKAGE_PATH, Calibration, ModelPackage, load_package
from service.domain.matching import (
    Match,
    MatchRule,
    TemplateMatch,
    combine_frames,
    fuse_frames,
    match_face,
    match_fused,
)
from service.domain.threshold import gallery_threshold
from service.index.vectors import IndexConfig, PersonHit, VectorIndex

REPO = Path(__file__).resolve().parent.parent
TOP_K = 5  # the service's default
MARGIN = 0.05  # the service's default match_margin
TARGETS = (1e-2, 1e-3, 1e-4)
EQUAL_FPIRS = (1e-2, 3e-3, 1e-3)  # measured FPIRs at which rules are compared (open_set_equal.py)
NEVER = MatchRule(threshold=-2.0, margin=MARGIN)  # every decision but the threshold's (open_set_equal.py)
FILLER = 1_000_000  # person ids of fillers start here; mated people are 0..M-1
logger = logging.getLogger("open_set")
Hits = list[list[PersonHit]]


def merge_duplicates(faces: Faces) -> tuple[Faces, list[dict[str, Any]]]:
    """CelebA's identity labels are noisy: one person sometimes carries two identity numbers. Two identities whose
    mean cross score reaches the median same-identity mean score are taken for one person and merged (their pairs
    are not impostor pairs); the merged pairs are returned for the record."""
    names, labels = np.unique(faces.identities, return_inverse=True)
    onehot = np.zeros((len(names), len(labels)), np.float32)
    onehot[labels, np.arange(len(labels))] = 1.0
    sums = onehot @ faces.embeddings  # (identities, E): each identity's summed embedding
    counts = onehot.sum(1)
    means = (sums @ sums.T) / np.outer(counts, counts)  # mean cross score, self-pairs included on the diagonal
    own = np.array([(sums[i] @ sums[i] - counts[i]) / (counts[i] * (counts[i] - 1)) for i in range(len(names))])
    bar = float(np.median(own))
    merged: list[dict[str, Any]] = []
    identities = faces.identities.copy()
    for i, j in zip(*np.triu_indices(len(names), 1), strict=True):
        if means[i, j] >= bar:
            identities[identities == names[j]] = names[i]
            merged.append({"kept": str(names[i]), "merged": str(names[j]), "mean_score": float(means[i, j])})
    for entry in merged:
        logger.info("held-out identities %s and %s look like one person: merged", entry["kept"], entry["merged"])
    return Faces(faces.name, faces.embeddings, identities), [*merged, {"median_same_identity_mean": bar}]


def calibrate_held_out(held: Faces) -> Calibration:
    """Per-pair thresholds and the impostor tail on the held-out CelebA identities (label duplicates merged)."""
    from training.evaluation.calibrate import all_pair_scores, calibrate, count_pairs
    from training.evaluation.tail_fit import fit_tail

    held, merged = merge_duplicates(held)
    what = (
        f"CelebA identity set, the {len(set(held.identities.tolist()))} identities the shipped model's training held "
        "out (split_by_identity, val_identities=300, seed=0); in neither the training set nor LFW;"
    )
    what += f" {len(merged) - 1} identity pair(s) that look like one person mislabelled twice merged;"
    base = calibrate(
        held.embeddings, held.identities.tolist(), description=what, extra_metrics={"merged_identities": merged}
    )
    _, n_impostor = count_pairs(held.identities.tolist())
    top = all_pair_scores(held.embeddings, held.identities.tolist(), top_k=int(0.1 * n_impostor) + 1).impostor_top
    tail = fit_tail(top, n_impostor, measured_on=what + f" all {n_impostor:,} impostor pairs")
    return Calibration(True, base.thresholds, base.measured_on, base.metrics, tail, held_out_tails(held, what))


def held_calibration(package: ModelPackage, held_faces: Faces, held: set[str]) -> Calibration:
    """:func:`calibrate_held_out` on ``held_faces`` (refused unless every face is of a ``held`` identity), with the
    package's domain factor: measured on another set (bench/open_set_band.py), so the one in place holds (1 for a
    package calibrated for the first time)."""
    if not set(held_faces.identities.tolist()) <= held:
        raise SystemExit("the held-out cache must hold held-out identities only")
    return replace(
        calibrate_held_out(held_faces),
        domain_factor=package.calibration.domain_factor,
        domain_factor_measured_on=package.calibration.domain_factor_measured_on,
    )


def write_held_out_calibration(package: ModelPackage, cal: Calibration) -> None:
    """Write ``cal`` as the shipped package's calibration.json, keeping the LFW benchmark figures of the one in
    place (accuracy is measured on LFW; only the calibration moved off it). The model id does not change."""
    from training.evaluation.calibrate import write_calibration

    kept = {k: v for k, v in package.calibration.metrics.items() if k.startswith("lfw_") or k == "flip_tta"}
    write_calibration(DEFAULT_PACKAGE_PATH, replace(cal, metrics=cal.metrics | kept))
    assert load_package().model_id == package.model_id


def transfer(cal: Calibration, faces: Faces, fars: Sequence[float]) -> list[dict[str, Any]]:
    """Measured per-pair FAR on all impostor pairs of ``faces`` at the calibrated thresholds (table and tail)."""
    from training.evaluation.calibrate import all_pair_scores, count_pairs

    assert cal.tail is not None
    _, n = count_pairs(faces.identities.tolist())
    # keep 20x the highest rate's share (all pairs of a small set): a set may run far above the calibration
    keep = n if n <= 5_000_000 else int(20 * max(fars) * n) + 1
    top = all_pair_scores(faces.embeddings, faces.identities.tolist(), top_k=keep).impostor_top
    rows = []
    for far in fars:
        threshold = cal.tail.score_at(far)
        accepted = int((top >= threshold).sum())
        row = {"far": far, "threshold": threshold, "measured_far": accepted / n, "pairs": n}
        rows.append(row | ({"at_least": True} if accepted >= len(top) and len(top) < n else {}))
    return rows


def build_index(vectors: np.ndarray, people: np.ndarray) -> VectorIndex:
    index = VectorIndex(vectors.shape[1], IndexConfig(search_threads=2))
    index.add(np.arange(len(people), dtype=np.int64), people.astype(np.int64), vectors)
    return index


def gallery(p: Protocol, n: int, templates: str) -> tuple[VectorIndex, int]:
    """The index of ``n`` people: the first mated people (``templates``: ``one`` image, ``best3`` = their first
    three images as three templates), then fillers."""
    m = min(n, len(p.mated))
    vectors, people = [], []
    for person, rows in enumerate(p.mated[:m]):
        enrol = rows[:1] if templates == "one" else rows[: max(1, min(3, len(rows) - 1))]
        chosen = p.embeddings[enrol]
        vectors.append(chosen)
        people += [person] * len(chosen)
    filler_rows = p.fillers[: n - m]
    vectors.append(p.embeddings[filler_rows])
    people += list(range(FILLER, FILLER + len(filler_rows)))
    return build_index(np.concatenate(vectors).astype(np.float32), np.array(people)), m


def rates(mated: list[tuple[int, Match]], strangers: list[Match]) -> dict[str, Any]:
    """FNIR, FPIR, the wrong-person share of mated accepts, over (own person, outcome) and stranger outcomes."""
    accepted = [(own, m) for own, m in mated if m.matched]
    wrong = sum(m.person_id != own for own, m in accepted)
    false_pos = sum(m.matched for m in strangers)
    return {
        "fnir": 1.0 - sum(m.person_id == own for own, m in accepted) / max(1, len(mated)),
        "fpir": false_pos / max(1, len(strangers)),
        "false_positives": false_pos,
        "mated_accepts": len(accepted),
        "wrong_person_accepts": wrong,
        "wrong_person_share": wrong / max(1, len(accepted)),
        "wrong_share_with_strangers": (wrong + false_pos) / max(1, len(accepted) + false_pos),
        "mated_probes": len(mated),
        "stranger_probes": len(strangers),
    }


def decide(hits: Hits, rule: MatchRule) -> list[Match]:
    return [match_face(h, rule) for h in hits]


def det_curve(mated: list[tuple[int, list[PersonHit]]], strangers: Hits) -> dict[str, list[float]]:
    """FNIR and FPIR on a threshold sweep, no margin (rank-1 rule): the plot."""
    own = np.array([h[0].score if h and h[0].person_id == o else -np.inf for o, h in mated])
    top = np.array([h[0].score if h else -np.inf for h in strangers])
    grid = np.linspace(0.2, 0.95, 151)
    return {
        "threshold": grid.tolist(),
        "fnir": [float((own < t).mean()) for t in grid],
        "fpir": [float((top >= t).mean()) for t in grid],
    }


def evaluate_size(p: Protocol, att: Faces, cal: Calibration, n: int, fixed: float) -> dict[str, Any]:
    begin = time.perf_counter()
    index, m = gallery(p, n, "one")
    built = time.perf_counter() - begin
    comparisons = len(index)
    mated_rows = [(person, row) for person, rows in enumerate(p.mated[:m]) for row in rows[1:]]
    t0 = time.perf_counter()
    mated_hits = index.search(p.embeddings[[r for _, r in mated_rows]], TOP_K)
    stranger_hits = index.search(p.embeddings[p.strangers], TOP_K)
    att_hits = index.search(att.embeddings, TOP_K)
    searched = time.perf_counter() - t0
    owners = [o for o, _ in mated_rows]
    result: dict[str, Any] = {
        "gallery": n,
        "templates": comparisons,
        "mated_people": m,
        "fillers": n - m,
        "rank1": float(np.mean([bool(h) and h[0].person_id == o for o, h in zip(owners, mated_hits, strict=True)])),
        "seconds": {"enrol": built, "search": searched, "probes": len(mated_rows) + len(p.strangers) + len(att)},
        "det": det_curve(list(zip(owners, mated_hits, strict=True)), stranger_hits),
        "points": [],
    }
    points: list[tuple[str, float | None, float]] = [("fixed FAR 1e-3", None, fixed)]
    points += [(f"FPIR {t:g}", t, gallery_threshold(cal, t, comparisons).threshold) for t in TARGETS]
    for label, target, threshold in points:
        for margin in (0.0, MARGIN):
            rule = MatchRule(threshold=threshold, margin=margin)
            row = rates(list(zip(owners, decide(mated_hits, rule), strict=True)), decide(stranger_hits, rule))
            row |= {"point": label, "target_fpir": target, "threshold": threshold, "margin": margin}
            row["att_fpir"] = float(np.mean([x.matched for x in decide(att_hits, rule)]))
            result["points"].append(row)
    result["frames"] = frames_rows(p, index, m, cal, comparisons)
    result["frames_equal_fpir"] = frames_equal(p, index, m)
    result["templates_rule"], result["templates_equal_fpir"] = templates_rows(p, n, cal)
    result["seconds"]["total"] = time.perf_counter() - begin
    logger.info("gallery %d: %.0f s", n, result["seconds"]["total"])
    return result


def frames_rows(p: Protocol, index: VectorIndex, m: int, cal: Calibration, comparisons: int) -> list[dict[str, Any]]:
    """1, 2, 3 frames per check: all frames must match the same person, against the frames' embeddings fused."""
    people = [(person, rows[1:4]) for person, rows in enumerate(p.mated[:m]) if len(rows) >= 4]
    out = []
    for target in TARGETS:
        for frames in (1, 2, 3):
            for how in ("all_agree", "fused"):
                fused = how == "fused" and frames > 1  # a fused probe has its own tail (open_set_tails.py)
                threshold = gallery_threshold(cal, target, comparisons, fused=fused).threshold
                outcome = _frames_decider(index, MatchRule(threshold=threshold, margin=MARGIN), frames, how)
                mated = [(own, outcome(p.embeddings[rows])) for own, rows in people]
                strangers = [outcome(p.embeddings[seq]) for seq in p.stranger_sequences]
                row = rates(mated, strangers) | {"target_fpir": target, "frames": frames, "rule": how}
                out.append(row | {"threshold": threshold})
    return out


def frames_equal(p: Protocol, index: VectorIndex, m: int) -> list[dict[str, Any]]:
    """all_agree against fused, 2 and 3 frames, at equal measured FPIR (3-frame stranger sequences)."""
    people = [(person, rows[1:4]) for person, rows in enumerate(p.mated[:m]) if len(rows) >= 4]
    owners = np.array([own for own, _ in people])
    out = []
    for frames in (2, 3):
        for how in ("all_agree", "fused"):
            outcome = _frames_decider(index, NEVER, frames, how)
            mated = scores_of([outcome(p.embeddings[rows]) for _, rows in people])
            strangers = scores_of([outcome(p.embeddings[seq]) for seq in p.stranger_sequences])[1]
            for row in fnir_at_fpir(mated, owners, strangers, EQUAL_FPIRS[:2]):
                out.append(row | {"frames": frames, "rule": how})
    return out


def _frames_decider(index: VectorIndex, rule: MatchRule, frames: int, how: str) -> Callable[[np.ndarray], Match]:
    def outcome(embeddings: np.ndarray) -> Match:
        chosen = embeddings[:frames]
        frame_hits = index.search(chosen, TOP_K)
        if frames == 1:
            return match_face(frame_hits[0], rule)
        if how == "fused":
            return match_fused(index.search(fuse_frames(chosen), TOP_K)[0], frame_hits, rule)
        return combine_frames(decide(frame_hits, rule))

    return outcome


TEMPLATE_RULES: tuple[tuple[str, str, TemplateMatch], ...] = (
    ("one", "one", "best"),
    ("best3", "best3", "best"),
    ("mean3", "best3", "mean"),
    ("max3", "best3", "max"),
)


def templates_rows(p: Protocol, n: int, cal: Calibration) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Enrolled with 1 image, or 3 images matched by the service's ``template_match`` (best template, mean
    template, the max of both), each at its own derived threshold; and at equal measured FPIR. Probes: each
    person's 4th+ images."""
    out, equal = [], []
    for label, enrolled, by in TEMPLATE_RULES:
        index, m = gallery(p, n, enrolled)
        people = [(person, rows[3:]) for person, rows in enumerate(p.mated[:m]) if len(rows) >= 4]
        owners = [own for own, rows in people for _ in rows]
        probes = np.concatenate([rows for _, rows in people])
        mated_hits = index.search(p.embeddings[probes], TOP_K, by=by)
        stranger_hits = index.search(p.embeddings[p.strangers], TOP_K, by=by)
        size = {"index_templates": len(index), "people": index.people_count()}
        for target in TARGETS:
            threshold = gallery_threshold(cal, target, len(index), people=index.people_count(), match=by).threshold
            rule = MatchRule(threshold=threshold, margin=MARGIN)
            row = rates(list(zip(owners, decide(mated_hits, rule), strict=True)), decide(stranger_hits, rule))
            out.append(row | {"target_fpir": target, "templates": label, "threshold": threshold} | size)
        mated = scores_of(decide(mated_hits, NEVER))
        strangers = scores_of(decide(stranger_hits, NEVER))[1]
        for row in fnir_at_fpir(mated, np.array(owners), strangers, EQUAL_FPIRS):
            equal.append(row | {"templates": label})
    return out, equal


def load_faces(args: argparse.Namespace) -> dict[str, Faces]:
    """LFW and AT&T from the shared caches; the held-out CelebA identities and the CelebA fillers from caches
    prepared the same way (``facegate-train prepare --source celeba``) on those identities' images only."""
    return {
        "lfw": embed_cache("lfw", args.caches / "lfw", args.work),
        "att": embed_cache("att", args.caches / "att", args.work),
        "held": embed_cache("celeba_held", args.held, args.work),
        "fill": embed_cache("celeba_fill", args.fill, args.work, partial=args.partial_fill),
    }


def celeba_identities(images: Path) -> np.ndarray:
    """Every identity of the CelebA identity set (``{identity}_{file}.jpg``), one entry per image, as
    training's ``celeba_identity_set`` names them: the population ``split_by_identity`` drew from."""
    return np.array([f"celeba:{path.name.partition('_')[0]}" for path in sorted(images.glob("*.jpg"))])


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for r in results:
        fpir, fnir = np.array(r["det"]["fpir"]), np.array(r["det"]["fnir"])
        keep = fpir > 0
        ax.plot(fpir[keep], fnir[keep], label=f"{r['gallery']:,} enrolled")
    ax.set_xscale("log")
    ax.set_xlabel("FPIR (stranger let in, per check)")
    ax.set_ylabel("FNIR (enrolled person not recognised)")
    ax.set_title("Open-set identification, shipped model, rank-1 rule (no margin)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| enrolled | point | threshold | margin | FNIR | FPIR (LFW strangers) | FPIR (AT&T) | wrong-person share "
        "of accepts | rank-1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for row in r["points"]:
            lines.append(
                f"| {r['gallery']:,} | {row['point']} | {row['threshold']:.3f} | {row['margin']:.2f} | "
                f"{row['fnir']:.3f} | {row['fpir']:.2e} ({row['false_positives']}/{row['stranger_probes']}) | "
                f"{row['att_fpir']:.2e} | {row['wrong_person_share']:.1e} ({row['wrong_person_accepts']}/"
                f"{row['mated_accepts']}) | {r['rank1']:.3f} |"
            )
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    """Every table for BENCHMARKS.md from a result file (``--report``): decisions, frames, templates, transfer."""
    results = report["sizes"]
    out = [
        table(results),
        "",
        "| enrolled | target FPIR | frames | rule | FNIR | FPIR (3-frame strangers) |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        for row in r["frames"]:
            out.append(
                f"| {r['gallery']:,} | {row['target_fpir']:g} | {row['frames']} | {row['rule']} | {row['fnir']:.3f} | "
                f"{row['fpir']:.2e} ({row['false_positives']}/{row['stranger_probes']}) |"
            )
    out += [
        "",
        "| enrolled | target FPIR | templates | FNIR | FPIR | wrong-person share |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        for row in r["templates_rule"]:
            out.append(
                f"| {r['gallery']:,} | {row['target_fpir']:g} | {row['templates']} | {row['fnir']:.3f} | "
                f"{row['fpir']:.2e} ({row['false_positives']}/{row['stranger_probes']}) | "
                f"{row['wrong_person_share']:.1e} |"
            )
    out += [
        "",
        "| enrolled | compared at | rule | threshold | FNIR | measured FPIR |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        for row in r.get("templates_equal_fpir", []):
            out.append(_equal_row(r["gallery"], row, f"templates {row['templates']}"))
        for row in r.get("frames_equal_fpir", []):
            out.append(_equal_row(r["gallery"], row, f"{row['frames']} frames {row['rule']}"))
    out += ["", "| set | per-comparison FAR set | threshold | measured FAR | impostor pairs |", "|---|---|---|---|---|"]
    for name, rows in report["transfer"].items():
        for row in rows:
            out.append(
                f"| {name} | {row['far']:g} | {row['threshold']:.3f} | {row['measured_far']:.2e} | {row['pairs']:,} |"
            )
    out += ["", "| enrolled | seconds (enrol, search, total) | probes |", "|---|---|---|"]
    for r in results:
        sec = r["seconds"]
        out.append(
            f"| {r['gallery']:,} | {sec['enrol']:.1f}, {sec['search']:.1f}, {sec['total']:.0f} | {sec['probes']:,} |"
        )
    return "\n".join(out)


def _equal_row(gallery: int, row: dict[str, Any], rule: str) -> str:
    return (
        f"| {gallery:,} | FPIR ≤ {row['fpir_set']:g} | {rule} | {row['threshold']:.3f} | {row['fnir']:.3f} | "
        f"{row['fpir']:.2e} ({row['false_positives']}/{row['strangers']}) |"
    )


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/work/data/i12"), help="embedding cache (outside the repo)")
    ap.add_argument("--caches", type=Path, default=Path("/work/data/cache"), help="prepared lfw/att/celeba caches")
    ap.add_argument("--held", type=Path, default=Path("/work/data/i12/cache_held"), help="held-out CelebA cache")
    ap.add_argument("--fill", type=Path, default=Path("/work/data/i12/cache_fill"), help="CelebA filler cache")
    ap.add_argument("--partial-fill", action="store_true", help="use the filler cache's finished shards only")
    ap.add_argument("--celeba-images", type=Path, default=Path("/work/data/celeba_identity_samples"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10_000, 100_000])
    ap.add_argument("--write-calibration", action="store_true", help="store the calibration in the shipped package")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    ap.add_argument(
        "--calibrate-only",
        action="store_true",
        help="calibrate on the held-out cache, write it into the shipped package and stop (no galleries)",
    )
    ap.add_argument("--skip-transfer", action="store_true", help="leave out the per-pair transfer to LFW and AT&T")
    ap.add_argument("--report", type=Path, help="print the markdown tables of an existing result file and stop")
    args = ap.parse_args(argv)
    if args.report:
        sys.stdout.write(markdown(json.loads(args.report.read_text())) + "\n")
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    start = time.perf_counter()
    package = load_package()
    held = celeba_held_out(celeba_identities(args.celeba_images))
    if args.calibrate_only:
        held_faces = embed_cache("celeba_held", args.held, args.work, partial=True)
        write_held_out_calibration(package, held_calibration(package, held_faces, held))
        return
    fixed = package.calibration.threshold_for(1e-3)
    faces = load_faces(args)
    lfw, att, held_faces, fill = faces["lfw"], faces["att"], faces["held"], faces["fill"]
    if set(fill.identities.tolist()) & held:
        raise SystemExit("the filler cache must hold no held-out identity")
    cal = held_calibration(package, held_faces, held)
    if args.write_calibration:
        write_held_out_calibration(package, cal)
    protocol = build_protocol(lfw, fill, None)
    largest = len(protocol.mated) + len(protocol.fillers)
    sizes = sorted({min(n, largest) for n in args.sizes})
    results = [evaluate_size(protocol, att, cal, n, fixed) for n in sizes]
    fars = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
    report: dict[str, Any] = {
        "benchmark": "open_set",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load": os.getloadavg()},
        "model_id": package.model_id,
        "calibration": cal.to_json(),
        "fixed_threshold_far_1e-3_before": fixed,
        "transfer": {}
        if args.skip_transfer
        else {"lfw": transfer(cal, lfw, fars), "att": transfer(cal, att, fars[:3])},
        "data": {
            "mated_people": len(protocol.mated),
            "stranger_probes": len(protocol.strangers),
            "stranger_sequences": len(protocol.stranger_sequences),
            "att_probes": len(att),
            "fillers": len(protocol.fillers),
            "distinct_filler_identities": protocol.distinct_filler_identities,
            "largest_gallery": largest,
            "held_out_faces": len(held_faces),
            "held_out_identities": len(set(held_faces.identities.tolist())),
        },
        "sizes": results,
        "seconds": time.perf_counter() - start,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"open_set-{dt.date.today().isoformat()}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    plot(results, stem.with_suffix(".png"))
    sys.stdout.write(markdown(report) + "\n")
    sys.stdout.write(json.dumps(report["data"], indent=1) + "\n")


if __name__ == "__main__":
    main()
