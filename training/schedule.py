"""The learning-rate schedule (warm-up, then a cosine to zero over the steps or over a time budget) and the
clock that measures a run's time budget across resumes."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


def lr_at(step: int, total_steps: int, warmup_steps: int, base_lr: float) -> float:
    """Linear warm-up from ~0 to ``base_lr`` over ``warmup_steps``, then cosine decay to 0."""
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * min(1.0, progress)))


def lr_in_time(step: int, warmup_steps: int, elapsed_s: float, budget_s: float, base_lr: float) -> float:
    """The schedule of a run with a time budget: the same linear warm-up over ``warmup_steps``, then a
    cosine that follows the fraction of the budget spent, reaching 0 when the budget is."""
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * min(1.0, elapsed_s / budget_s)))


# What a Clock reads (seconds); tests put a clock of their own here, so that no test hangs on the
# machine's speed.
clock_source: Callable[[], float] = time.perf_counter


class Clock:
    """Wall time spent on a run, carried across resumes (``elapsed_s`` in the checkpoint)."""

    def __init__(self, budget_s: float, elapsed_before: float = 0.0):
        self.budget_s = budget_s
        self.elapsed_before = elapsed_before
        self._now = clock_source
        self.started = self._now()

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + self._now() - self.started

    @property
    def spent_before(self) -> bool:
        """Whether the budget was already spent by the runs this one resumes (every rank loads the
        same checkpoint, so every rank agrees without a collective)."""
        return self.budget_s > 0 and self.elapsed_before >= self.budget_s

    @property
    def spent(self) -> bool:
        return self.budget_s > 0 and self.elapsed >= self.budget_s
