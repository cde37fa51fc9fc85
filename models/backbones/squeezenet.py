"""SqueezeNet face backbone: Fire modules, a 1×1 squeeze feeding a 1×1 + 3×3 expand.

Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model
size", arXiv:1602.07360, 2016. Its three strategies: replace most 3×3 filters by 1×1 ones, cut the
number of channels entering the remaining 3×3 filters (the *squeeze* layer), and downsample late so
that the convs work on large maps. A Fire module squeezes to ``s = SR·e`` channels (``SR``, the
squeeze ratio), then expands to ``e`` channels, half by 1×1 and half by 3×3 filters (the paper's
``pct3x3 = 0.5``), concatenated. The paper's SqueezeNet uses SR = 0.125; its Fig. 3a shows accuracy
rising with SR up to 0.75, and SR is how this backbone's budget is set. ``bypass=True`` adds the
paper's "simple bypass" (an identity shortcut around every Fire module whose input and output
widths match).

``(B, 3, 112, 112)`` → stem 3×3 ``(B, C_1, 112, 112)`` → per stage: max-pool /2, ``depths[i]`` Fire
modules → ``(B, C_i, 112/2^(i+1), …)`` → :class:`~models.heads.EmbeddingHead` → ``(B, E)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from models.backbones.staged import MaxPool3x3, StagedBackbone, check_config, check_depths, conv_norm_act, scaled
from models.layers import LayerFactory, act_factory, norm_factory
from models.registry import register_backbone

# 13 Fire modules (SqueezeNet has 8) at SR 0.5 bring the body near iresnet18's parameter budget.
DEPTHS = (2, 3, 5, 3)
BASE_CHANNELS = (128, 256, 512, 512)
# Squeeze ratio per block kind: "bottleneck" squeezes twice as hard.
SQUEEZE_RATIO = {"basic": 0.5, "bottleneck": 0.25}


class Fire(nn.Module):
    """``(B, c_in, H, W)`` → ``(B, c_out, H, W)``: squeeze 1×1 → [expand 1×1 ‖ expand 3×3]."""

    def __init__(
        self, c_in: int, c_out: int, squeeze_ratio: float, norm: LayerFactory, act: LayerFactory, bypass: bool = False
    ):
        super().__init__()
        squeeze = max(8, round(c_out * squeeze_ratio))
        e1 = c_out // 2
        self.squeeze = conv_norm_act(c_in, squeeze, 1, norm, act)
        self.expand1 = nn.Conv2d(squeeze, e1, 1, bias=False)
        self.expand3 = nn.Conv2d(squeeze, c_out - e1, 3, padding=1, bias=False)
        self.norm = norm(c_out)
        self.act = act(c_out)
        self.bypass = bypass and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.squeeze(x)
        out: torch.Tensor = self.norm(torch.cat([self.expand1(s), self.expand3(s)], dim=1))
        if self.bypass:
            out = out + x
        result: torch.Tensor = self.act(out)
        return result


class SqueezeNet(StagedBackbone):
    """SqueezeNet face backbone. ``block="basic"``: squeeze ratio 0.5; ``block="bottleneck"``:
    0.25; ``squeeze_ratio`` overrides either; ``bypass`` adds the simple bypass."""

    def __init__(
        self,
        depths: tuple[int, ...] | list[int] = DEPTHS,
        block: str = "basic",
        width: float = 1.0,
        embedding_size: int = 512,
        dropout: float = 0.0,
        input_size: int = 112,
        squeeze_ratio: float | None = None,
        bypass: bool = False,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = nn.PReLU,
    ):
        check_config(
            width=width, embedding_size=embedding_size, input_size=input_size, block=block, blocks=tuple(SQUEEZE_RATIO)
        )
        check_depths(depths)
        ratio = SQUEEZE_RATIO[block] if squeeze_ratio is None else squeeze_ratio
        if not 0.0 < ratio <= 1.0:
            raise ValueError(f"squeeze_ratio must be in (0, 1], got {ratio}")
        channels = scaled(BASE_CHANNELS, width)
        stem = conv_norm_act(3, channels[0] // 2, 3, norm_layer, act_layer)
        stages: list[nn.Module] = []
        c_in = channels[0] // 2
        for n_modules, c_out in zip(depths, channels, strict=True):
            modules: list[nn.Module] = [MaxPool3x3(stride=2)]
            for _ in range(n_modules):
                modules.append(Fire(c_in, c_out, ratio, norm_layer, act_layer, bypass))
                c_in = c_out
            stages.append(nn.Sequential(*modules))
        super().__init__(stem, stages, channels, embedding_size=embedding_size, dropout=dropout, input_size=input_size)


@register_backbone("squeezenet")
def squeezenet(norm: str = "batch", act: str = "prelu", **cfg: Any) -> SqueezeNet:
    return SqueezeNet(norm_layer=norm_factory(norm), act_layer=act_factory(act), **cfg)
