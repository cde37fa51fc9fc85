"""CosFace: an additive cosine margin on the target class.

Wang et al., "CosFace: Large Margin Cosine Loss for Deep Face Recognition", CVPR 2018 (also
published as AM-Softmax, Wang et al., IEEE SPL 2018).
"""

from __future__ import annotations

import torch

from training.losses.margin import MarginSoftmaxLoss


class CosFaceLoss(MarginSoftmaxLoss):
    """Margin softmax whose target logit is ``cos θ − m`` (monotonic in θ for every ``m``).

    Args:
        num_classes: number of identities ``C``.
        embedding_size: dimension ``E`` of the embeddings.
        margin: the cosine margin ``m`` (0.35 in the paper); ``m ≥ 0``.
        scale: the logit scale ``s``.

    Shapes: ``loss(embeddings (B, E), labels (B,)) -> ()``.
    """

    def __init__(self, num_classes: int, embedding_size: int, margin: float = 0.35, scale: float = 64.0):
        super().__init__(num_classes, embedding_size, scale=scale)
        if margin < 0:
            raise ValueError(f"CosFace margin must be >= 0, got {margin}")
        self.margin = float(margin)

    def margin_logit(self, cos_theta_target: torch.Tensor) -> torch.Tensor:
        """``cos θ − m``: ``(B,) -> (B,)``."""
        return cos_theta_target - self.margin

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, margin={self.margin}"
