"""A plain-PyTorch float network with the integer model's topology and (dequantised) weights.

The GPU benchmark's framework baselines (eager fp32/fp16, ``torch.compile``) must run the same
model as the kernels, on a machine without Brevitas. This is that model in float: the same
convs, ReLUs, pools, upsamples and concatenations, with weights ``w * 2**e_w`` and biases
``b * 2**(e_in + e_w)``, and no quantisers (what a float deployment of TinyIceNet runs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyicenet.kernels.plan import IntConv, IntNet


def _conv(conv: IntConv) -> Any:
    import torch
    from torch import nn

    k = conv.kernel
    layer = nn.Conv2d(conv.cin, conv.cout, k, padding=k // 2, bias=True)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(conv.weight.astype(np.float64) * 2.0 ** conv.e_w))
        layer.bias.copy_(torch.from_numpy(conv.bias.astype(np.float64)
                                          * 2.0 ** (conv.e_in + conv.e_w)))
    return layer


def float_twin(net: IntNet) -> Any:
    """``torch.nn.Module`` computing the float counterpart of ``net`` (logits ``[N, K, H, W]``)."""
    import torch
    from torch import nn

    class FloatTinyIceNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.skips = net.skips
            self.encoder = nn.ModuleList(_conv(c) for c in net.encoder)
            self.bottleneck = _conv(net.bottleneck)
            self.decoder = nn.ModuleList(_conv(c) for c in net.decoder)
            self.head = _conv(net.head)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            relu = torch.nn.functional.relu
            skips = []
            for conv in self.encoder:
                x = relu(conv(x))
                skips.append(x)
                x = torch.nn.functional.max_pool2d(x, 2)
            x = relu(self.bottleneck(x))
            for i in reversed(range(len(self.decoder))):
                x = torch.nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")
                if self.skips:
                    x = torch.cat([x, skips[i]], dim=1)
                x = relu(self.decoder[i](x))
            return self.head(x)

    return FloatTinyIceNet().eval()


def macs_per_image(net: IntNet, h: int, w: int) -> int:
    """Multiply-accumulates of one ``h x w`` image (the same count for float and integer)."""
    total = 0
    for level, conv in enumerate(net.encoder):
        total += (h >> level) * (w >> level) * conv.weight[0].size * conv.cout
    total += (h >> net.levels) * (w >> net.levels) * net.bottleneck.weight[0].size \
        * net.bottleneck.cout
    for level, conv in enumerate(net.decoder):
        total += (h >> level) * (w >> level) * conv.weight[0].size * conv.cout
    total += h * w * net.head.weight[0].size * net.head.cout
    return int(total)
