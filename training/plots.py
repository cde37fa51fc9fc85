"""PNG plots for a run: loss terms over steps, ROC and DET curves. matplotlib is imported lazily."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np

TERMS = ("loss", "metric", "attributes", "deep_sup", "recon", "distill")


def _pyplot() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_loss_terms(metrics_jsonl: Path, out_png: Path) -> None:
    """Every logged loss term against the step, one line each."""
    rows = [json.loads(line) for line in metrics_jsonl.read_text().splitlines() if line.strip()]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for term in TERMS:
        points = [(r["step"], r[term]) for r in rows if term in r and r[term] > 0]  # log axis
        if points:
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, label=term)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], out_png: Path, title: str = "ROC") -> None:
    """ROC (TAR against FAR, log FAR axis) and DET (FRR against FAR) side by side."""
    plt = _pyplot()
    fig, (roc, det) = plt.subplots(1, 2, figsize=(10, 4))
    for name, (far, tar) in curves.items():
        keep = far > 0
        roc.plot(far[keep], tar[keep], label=name)
        frr = 1.0 - tar
        on_det = keep & (frr > 0)  # log axes: a perfect stretch (FRR 0) has no point on a DET plot
        det.plot(far[on_det], frr[on_det], label=name)
    roc.set_xscale("log")
    roc.set_xlabel("false accept rate")
    roc.set_ylabel("true accept rate")
    roc.set_title(title)
    det.set_xscale("log")
    if any(line.get_xydata().size for line in det.get_lines()):
        det.set_yscale("log")
    det.set_xlabel("false accept rate")
    det.set_ylabel("false reject rate")
    det.set_title("DET")
    for ax in (roc, det):
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
