"""Highway face backbone: residual-shaped blocks whose mix of transform and carry is learned.

Srivastava, Greff & Schmidhuber, "Training Very Deep Networks", NeurIPS 2015 (highway networks).
A block computes ``y = T(x)·H(x) + C(x)·x`` where ``T = σ(W_T x + b_T)`` is a *transform gate* and
``C`` a *carry gate*, ``C = 1 − T`` unless ``coupled=False``. With T → 0 a block passes its input
on unchanged, which is what lets gradients cross many layers; the paper initialises ``b_T``
negative ("e.g. −1, −3") so every block starts close to carrying. A ResNet block is the special
case ``T = C = 1``: comparing this backbone with the IR-ResNet at the same H measures what the
gating buys. Here H is exactly the IR-ResNet's residual branch (basic or bottleneck) and, where a
block changes the shape, the carried input is the IR-ResNet's 1×1 strided projection, so the gates
are the only difference.

The gate is a ``gate_kernel``×``gate_kernel`` conv (with the block's stride) giving one gate per
channel and position. The paper uses the same field for T as for H; the default 1×1 keeps the
block within ~6% of the residual block's weights (a 3×3 gate would add 50%).

``(B, 3, 112, 112)`` → stem 3×3 ``(B, C_1, 112, 112)`` → per stage: ``depths[i]`` gated blocks, the
first with stride 2 → ``(B, C_i, 112/2^(i+1), …)`` → :class:`~models.heads.EmbeddingHead` → ``(B, E)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from models.backbones.iresnet import IRBasicBlock, IRBottleneckBlock
from models.backbones.staged import StagedBackbone, check_config, check_depths, conv_norm_act, scaled
from models.layers import LayerFactory, act_factory, norm_factory
from models.registry import register_backbone

DEPTHS = (2, 2, 2, 2)
BASE_CHANNELS = (64, 128, 256, 512)
BLOCKS: dict[str, type[IRBasicBlock] | type[IRBottleneckBlock]] = {
    "basic": IRBasicBlock,
    "bottleneck": IRBottleneckBlock,
}


class HighwayBlock(nn.Module):
    """``(B, c_in, H, W)`` → ``(B, c_out, H/stride, W/stride)``: ``T·H(x) + C·carry(x)``."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        stride: int,
        block: str,
        norm: LayerFactory,
        act: LayerFactory,
        gate_kernel: int = 1,
        coupled: bool = True,
    ):
        super().__init__()
        residual_block = BLOCKS[block](c_in, c_out, stride, norm, act)
        self.transform: nn.Module = residual_block.residual  # H: the IR-ResNet's residual branch
        self.carry: nn.Module = residual_block.shortcut  # identity, or 1×1 strided projection + norm
        pad = gate_kernel // 2
        self.gate = nn.Conv2d(c_in, c_out, gate_kernel, stride=stride, padding=pad)
        self.carry_gate: nn.Conv2d | None = (
            None if coupled else nn.Conv2d(c_in, c_out, gate_kernel, stride=stride, padding=pad)
        )

    def init_gates(self, bias: float) -> None:
        """Near-zero gate weights and transform bias ``bias`` (< 0: start by carrying the input);
        an uncoupled carry gate starts at ``-bias``, the same carry-first state."""
        gates = [(self.gate, bias)] + ([] if self.carry_gate is None else [(self.carry_gate, -bias)])
        for conv, value in gates:
            nn.init.normal_(conv.weight, std=0.01)
            if conv.bias is not None:
                nn.init.constant_(conv.bias, value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.sigmoid(self.gate(x))
        c = 1.0 - t if self.carry_gate is None else torch.sigmoid(self.carry_gate(x))
        out: torch.Tensor = t * self.transform(x) + c * self.carry(x)
        return out


class Highway(StagedBackbone):
    """Highway face backbone. ``block`` picks H (the IR basic or bottleneck branch); ``gate_bias``
    initialises ``b_T`` (negative: carry first); ``coupled=False`` learns C separately from T."""

    def __init__(
        self,
        depths: tuple[int, ...] | list[int] = DEPTHS,
        block: str = "basic",
        width: float = 1.0,
        embedding_size: int = 512,
        dropout: float = 0.0,
        input_size: int = 112,
        gate_bias: float = -1.0,
        gate_kernel: int = 1,
        coupled: bool = True,
        norm_layer: LayerFactory = nn.BatchNorm2d,
        act_layer: LayerFactory = nn.PReLU,
    ):
        check_config(
            width=width, embedding_size=embedding_size, input_size=input_size, block=block, blocks=tuple(BLOCKS)
        )
        check_depths(depths)
        if gate_kernel < 1 or gate_kernel % 2 == 0:
            raise ValueError(f"gate_kernel must be a positive odd size, got {gate_kernel}")
        channels = scaled(BASE_CHANNELS, width)
        stem = conv_norm_act(3, channels[0], 3, norm_layer, act_layer)
        stages: list[nn.Module] = []
        c_in = channels[0]
        for n_blocks, c_out in zip(depths, channels, strict=True):
            blocks = [
                HighwayBlock(
                    c_in if i == 0 else c_out,
                    c_out,
                    2 if i == 0 else 1,
                    block,
                    norm_layer,
                    act_layer,
                    gate_kernel,
                    coupled,
                )
                for i in range(n_blocks)
            ]
            stages.append(nn.Sequential(*blocks))
            c_in = c_out
        super().__init__(stem, stages, channels, embedding_size=embedding_size, dropout=dropout, input_size=input_size)
        for m in self.modules():
            if isinstance(m, HighwayBlock):
                m.init_gates(gate_bias)


@register_backbone("highway")
def highway(norm: str = "batch", act: str = "prelu", **cfg: Any) -> Highway:
    return Highway(norm_layer=norm_factory(norm), act_layer=act_factory(act), **cfg)
