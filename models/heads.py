"""The embedding head that ends every backbone: BN → dropout → FC → BN."""

from __future__ import annotations

import torch
from torch import nn


class EmbeddingHead(nn.Module):
    """Flatten a ``(B, C, H, W)`` feature map into a ``(B, embedding_size)`` embedding.

    The FC over the whole flattened map (rather than global pooling) keeps the spatial layout of
    an aligned face, as in ArcFace's IR-ResNets. The output is *not* normalised: margin losses
    normalise it themselves and inference calls ``torch.nn.functional.normalize``.
    """

    def __init__(self, channels: int, spatial: tuple[int, int], embedding_size: int = 512, dropout: float = 0.0):
        super().__init__()
        self.norm_in = nn.BatchNorm2d(channels)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(channels * spatial[0] * spatial[1], embedding_size)
        self.norm_out = nn.BatchNorm1d(embedding_size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.norm_in(features))
        out: torch.Tensor = self.norm_out(self.fc(torch.flatten(x, 1)))
        return out
