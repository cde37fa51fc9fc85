"""ArcFace: an additive angular margin on the target class.

Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face Recognition", CVPR 2019.
"""

from __future__ import annotations

import math

import torch

from training.losses.margin import MarginSoftmaxLoss


class ArcFaceLoss(MarginSoftmaxLoss):
    """Margin softmax whose target logit is ``cos(θ + m)``.

    ``cos(θ + m)`` alone stops decreasing once ``θ + m > π`` (it turns back up towards
    ``cos(2π − …)``), which would reward moving an embedding *away* from its centre. Where
    ``θ + m > π`` the logit is instead ``cos θ − m · sin m`` (= ``cos θ − sin(π − m) · m``), the
    fallback of the paper's reference code (insightface, without "easy margin"). The fallback
    starts below ``cos(π) = −1`` and keeps decreasing, so the target logit is monotonically
    non-increasing in θ over ``[0, π]``.

    Args:
        num_classes: number of identities ``C``.
        embedding_size: dimension ``E`` of the embeddings.
        margin: the angular margin ``m`` in radians (0.5 ≈ 28.6°); ``0 ≤ m < π``.
        scale: the logit scale ``s``.

    Shapes: ``loss(embeddings (B, E), labels (B,)) -> ()``.
    """

    def __init__(self, num_classes: int, embedding_size: int, margin: float = 0.5, scale: float = 64.0):
        super().__init__(num_classes, embedding_size, scale=scale)
        if not 0.0 <= margin < math.pi:
            raise ValueError(f"ArcFace margin must be in [0, π) radians, got {margin}")
        self.margin = float(margin)

    def margin_logit(self, cos_theta_target: torch.Tensor) -> torch.Tensor:
        """``cos(θ + m)`` where ``θ + m ≤ π``, else ``cos θ − m · sin m``: ``(B,) -> (B,)``."""
        m = self.margin
        # acos' gradient -1/sqrt(1 - x²) is infinite at ±1; one machine epsilon inside keeps it
        # finite while moving θ by at most ~sqrt(2·eps) (5e-4 rad in float32, 2e-8 in float64).
        eps = torch.finfo(cos_theta_target.dtype).eps
        theta = torch.acos(cos_theta_target.clamp(-1.0 + eps, 1.0 - eps))
        return torch.where(theta + m <= math.pi, torch.cos(theta + m), cos_theta_target - m * math.sin(m))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, margin={self.margin}"
