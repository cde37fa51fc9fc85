"""Fit :class:`models.tail.ImpostorTail` to the highest impostor scores of a calibration set.

The table is the empirical FAR at log-spaced rates from ``table_fars[0]`` down to ``fit_far``; above the score at
``fit_far`` the exceedances are fitted with a generalised Pareto distribution by probability-weighted moments
(Hosking & Wallis, "Parameter and quantile estimation for the generalized Pareto distribution",
Technometrics 1987): robust with a few thousand exceedances and needing no optimiser.
"""

from __future__ import annotations

import numpy as np

from models.tail import ImpostorTail

TABLE_FARS = (1e-1, 3e-2, 1e-2, 3e-3, 1e-3)


def gpd_pwm(excesses: np.ndarray) -> tuple[float, float]:
    """(xi, sigma) of a generalised Pareto fitted to ``excesses`` ``(M,)`` (all >= 0) by PWM.

    With ``y`` ascending, ``a0 = mean(y)``, ``a1 = mean((1 − p_i)·y_i)``, ``p_i = (i − 0.35)/M``:
    ``k = a0/(a0 − 2a1) − 2``, ``sigma = 2·a0·a1/(a0 − 2a1)``, ``xi = −k``.
    """
    y = np.sort(np.asarray(excesses, dtype=np.float64))
    m = y.size
    if m < 10 or not np.all(y >= 0):
        raise ValueError(f"need at least 10 non-negative excesses, got {m}")
    p = (np.arange(1, m + 1) - 0.35) / m
    a0 = float(y.mean())
    a1 = float(((1.0 - p) * y).mean())
    denominator = a0 - 2.0 * a1
    if denominator <= 0 or a0 <= 0:
        raise ValueError("the excesses do not fit a generalised Pareto tail")
    k = a0 / denominator - 2.0
    return -k, 2.0 * a0 * a1 / denominator


def fit_tail(
    impostor_top: np.ndarray,
    n_impostor: int,
    *,
    table_fars: tuple[float, ...] = TABLE_FARS,
    measured_on: str = "",
) -> ImpostorTail:
    """The tail from the highest impostor scores ``impostor_top`` (descending, at least ``table_fars[0]·n``
    of them) of ``n_impostor`` pairs; the Pareto fit starts at ``table_fars[-1]``."""
    top = np.asarray(impostor_top, dtype=np.float64)
    fars = sorted(table_fars, reverse=True)
    if top.size < int(fars[0] * n_impostor):
        raise ValueError(f"need the top {int(fars[0] * n_impostor)} impostor scores, got {top.size}")
    table = []
    for far in fars:
        rank = max(1, round(far * n_impostor))  # the rank-th highest score has FAR = rank/n
        table.append((float(top[rank - 1]), rank / n_impostor))
    table.sort()
    fit_score, fit_far = table[-1]
    excesses = top[top > fit_score] - fit_score
    xi, sigma = gpd_pwm(excesses)
    # the empirical exceedance count sets the Pareto's anchor, so FAR is continuous at the fit score
    return ImpostorTail(
        table=tuple(table),
        fit_score=fit_score,
        fit_far=fit_far,
        xi=xi,
        sigma=sigma,
        pairs=int(n_impostor),
        measured_on=measured_on,
    )
