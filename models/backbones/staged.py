"""The skeleton every lecture backbone shares, so that only the macro architecture differs between them.

A stem at full resolution, then four stages that each halve the map (112 → 56 → 28 → 14 → 7 for a
112×112 face), then the common :class:`~models.heads.EmbeddingHead`. Keeping the stem, the stage
resolutions, the head, the norm, the activation and the initialisation identical to the IR-ResNet's
means a study that swaps backbones measures the blocks and nothing else; and every backbone offers
the same ``forward_stages`` / ``forward_features`` / ``forward_head`` contract, which the training
model's deep-supervision heads and decoders rely on.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from models.heads import EmbeddingHead
from models.layers import LayerFactory

STAGES = 4


def check_config(*, width: float, embedding_size: int, input_size: int, block: str, blocks: Sequence[str]) -> None:
    """The checks every backbone makes before building anything, with the same messages as IResNet's."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    if input_size <= 0 or input_size % 16:
        raise ValueError(f"input_size must be a positive multiple of 16, got {input_size}")
    if embedding_size <= 0:
        raise ValueError(f"embedding_size must be positive, got {embedding_size}")
    if block not in blocks:
        raise ValueError(f"block must be one of {', '.join(repr(b) for b in blocks)}, got {block!r}")


def check_depths(depths: Sequence[int]) -> None:
    if len(depths) != STAGES or min(depths) < 1:
        raise ValueError(f"depths must be {STAGES} positive block counts, got {list(depths)}")


def scaled(channels: Sequence[int], width: float, multiple: int = 8) -> list[int]:
    """``channels × width`` rounded to a multiple of ``multiple`` (at least ``multiple``).

    Multiples of 8 keep the branch splits of Inception and Fire modules whole at small widths and
    keep GroupNorm's group count a divisor of the channels.
    """
    return [max(multiple, multiple * round(c * width / multiple)) for c in channels]


def conv_norm_act(
    c_in: int, c_out: int, kernel: int, norm: LayerFactory, act: LayerFactory, stride: int = 1
) -> nn.Sequential:
    """conv (no bias: the norm has one) → norm → act, padded to keep the map size at stride 1."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False), norm(c_out), act(c_out)
    )


class MaxPool3x3(nn.Module):
    """``nn.MaxPool2d(3, stride, padding=1)``, computed as two separable 1-D maxima.

    The result is identical (a 3×3 max is a max over rows of maxima over columns), but PyTorch's
    CPU ``max_pool2d`` on contiguous maps takes ~3 ms for a 16×56×56 map at batch 1 against
    ~0.15 ms here; left as it is, Inception's pooled branches would make the latency column
    measure that kernel rather than the architecture. ``(B, C, H, W) -> (B, C, ⌈H/s⌉, ⌈W/s⌉)``.
    """

    def __init__(self, stride: int = 1):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, inf = self.stride, float("-inf")
        n = x.shape[-1]
        xp = F.pad(x, (1, 1), value=inf)
        x = torch.maximum(torch.maximum(xp[..., 0:n:s], xp[..., 1 : n + 1 : s]), xp[..., 2 : n + 2 : s])
        n = x.shape[-2]
        xp = F.pad(x, (0, 0, 1, 1), value=inf)
        return torch.maximum(torch.maximum(xp[..., 0:n:s, :], xp[..., 1 : n + 1 : s, :]), xp[..., 2 : n + 2 : s, :])


class StagedBackbone(nn.Module):
    """``(B, 3, S, S) -> (B, embedding_size)`` through ``stem`` and four ``stages``.

    Subclasses build the stem and the stages (each stage halves the map) and hand them here;
    ``stage_channels`` lists each stage's output channels. ``forward_stages`` gives the four maps
    ``(B, C_i, S/2^(i+1), S/2^(i+1))``, ``forward_features`` the last ``(B, C_4, S/16, S/16)``,
    ``forward_head`` the (unnormalised) embedding.
    """

    def __init__(
        self,
        stem: nn.Module,
        stages: Sequence[nn.Module],
        stage_channels: Sequence[int],
        *,
        embedding_size: int,
        dropout: float,
        input_size: int,
    ):
        super().__init__()
        if len(stages) != STAGES or len(stage_channels) != STAGES:
            raise ValueError(f"a staged backbone has {STAGES} stages, got {len(stages)}")
        self.stage_channels: list[int] = list(stage_channels)
        self.embedding_size = embedding_size
        self.input_size = input_size
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        side = input_size // 16
        self.head = EmbeddingHead(self.stage_channels[-1], (side, side), embedding_size, dropout)
        self._init_weights()

    def _init_weights(self) -> None:
        # The IR-ResNet's scheme, so that initialisation is not one of the differences measured.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d | nn.GroupNorm) and m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B, 3, S, S)`` → the four stage maps, ``(B, C_i, S/2^(i+1), S/2^(i+1))``."""
        x = self.stem(x)
        outputs = []
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, S, S)`` → ``(B, C_4, S/16, S/16)``."""
        return self.forward_stages(x)[-1]

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, C_4, S/16, S/16)`` → ``(B, embedding_size)``, not normalised."""
        out: torch.Tensor = self.head(features)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
