"""The impostor tails of what a door matches besides one face against one template (issue 12).

A door may match a *fused* probe (the normalised mean of 2–3 frames' embeddings) and/or a person's *mean template*
(the normalised mean of their enrolled templates). Both averages cancel noise, so two different people's averages
score higher against each other than single faces do: the single-face tail would set too low a threshold for them
(at the single tail's threshold, fused frames let in 4.35e-3 of strangers at a target of 1e-3, BENCHMARKS.md).

Each tail is measured on the held-out CelebA identities (5 images each, in neither training nor LFW) the way the
service uses it: probes are single images or fused windows of 2 and 3 consecutive images of one identity;
templates are single images or the mean of windows of 3; every (probe, template) pair of two different identities
is an impostor pair. Windows of one identity overlap, so pairs are correlated: the tail's rates are unbiased but
rest on fewer independent pairs than counted.
"""

from __future__ import annotations

import numpy as np
from open_set_data import Faces

from models.tail import ImpostorTail
from service.domain.matching import fuse_frames

PROBE_WINDOWS = (2, 3)  # frames fused per check: the service's requests carry 2–3 frames
TEMPLATE_WINDOW = 3  # enrolment photos averaged into a mean template


def windows(faces: Faces, sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The fused (normalised mean) embedding of every run of ``size`` consecutive images of each identity, for
    each size: ``(W, E)`` embeddings and ``(W,)`` identities."""
    rows: dict[str, list[int]] = {}
    for i, identity in enumerate(faces.identities.tolist()):
        rows.setdefault(identity, []).append(i)
    out, ids = [], []
    for identity, own in rows.items():
        for size in sizes:
            for start in range(len(own) - size + 1):
                out.append(fuse_frames(faces.embeddings[own[start : start + size]]))
                ids.append(identity)
    return np.stack(out).astype(np.float32), np.array(ids)


def cross_tail(
    probes: np.ndarray, probe_ids: np.ndarray, templates: np.ndarray, template_ids: np.ndarray, what: str
) -> ImpostorTail:
    """The impostor tail of every (probe ``(P, E)``, template ``(T, E)``) pair of two different identities."""
    from training.evaluation.tail_fit import fit_tail

    scores = probes @ templates.T
    impostor = scores[probe_ids[:, None] != template_ids[None, :]]
    n = int(impostor.size)
    keep = int(0.1 * n) + 1
    top = -np.sort(-np.partition(impostor, n - keep)[n - keep :])
    return fit_tail(top, n, measured_on=f"{what}; {n:,} impostor pairs")


def held_out_tails(held: Faces, description: str) -> dict[str, ImpostorTail]:
    """``single_vs_mean``, ``fused_vs_best`` and ``fused_vs_mean`` tails of the held-out faces (label duplicates
    already merged); ``description`` says which identities they are."""
    fused, fused_ids = windows(held, PROBE_WINDOWS)
    means, mean_ids = windows(held, (TEMPLATE_WINDOW,))
    single, single_ids = held.embeddings, held.identities
    probe = "fused windows of 2 and 3 images"
    template = f"mean templates of windows of {TEMPLATE_WINDOW} images"
    return {
        "single_vs_mean": cross_tail(single, single_ids, means, mean_ids, f"{description} single images vs {template}"),
        "fused_vs_best": cross_tail(fused, fused_ids, single, single_ids, f"{description} {probe} vs single images"),
        "fused_vs_mean": cross_tail(fused, fused_ids, means, mean_ids, f"{description} {probe} vs {template}"),
    }
