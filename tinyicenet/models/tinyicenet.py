"""TinyIceNet: a compact U-Net whose float and Brevitas-quantized versions share one forward.

Topology (``widths=(16, 32, 64)``, ``L = len(widths)``)::

    input quant (signed 8 bit)
    level 0:  conv3x3(C_in -> 16) + ReLU ------------------------------ skip 0 --+
              maxpool 2x2                                                       |
    level 1:  conv3x3(16 -> 32) + ReLU ---------------- skip 1 --+              |
              maxpool 2x2                                        |              |
    bottleneck conv3x3(32 -> 64) + ReLU                          |              |
              nearest upsample x2, concat [up, skip 1] ----------+              |
    level 1:  conv3x3(64 + 32 -> 32) + ReLU                                     |
              nearest upsample x2, concat [up, skip 0] -------------------------+
    level 0:  conv3x3(32 + 16 -> 16) + ReLU
    head:     conv1x1(16 -> sum of chart classes), signed 8-bit output quant

``model.stride = 2 ** (L - 1)``. Without skips the decoder convs take only the upsampled tensor.
The bits shown are the uniform ``tinyicenet_w{W}a{A}`` defaults; ``model.precision``
(:mod:`tinyicenet.models.precision`) can set every quantizer's bits separately.

Why there is no batch norm: a per-tensor power-of-two weight scale cannot absorb a folded
BN's per-channel multiplier ``gamma / sigma`` exactly (it would need per-channel, non
power-of-two scales), and an unfolded BN would be a float op that neither hls4ml's fixed-point
types nor the integer reference reproduce bit for bit. Convs carry an integer bias instead.

Why the skip branches share one quantizer: concatenation must join tensors of one scale so
that it is a plain channel concatenation on every backend (no requantisation on the skip path,
no FIFO-side shifts in HLS). The ReLU producing skip ``i`` (encoder level ``i``) is therefore
the *same module* as the ReLU whose output is upsampled into level ``i`` (the decoder level
``i + 1`` or the bottleneck): one learned radix point for both branches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from tinyicenet.errors import ConfigError
from tinyicenet.models.precision import Precision
from tinyicenet.models.deps import require_brevitas

#: Number of classes of each AI4Arctic chart (AutoICE): SOD 6, SIC 11 (0..100 % in tens), FLOE 7.
CHART_CLASSES: dict[str, int] = {"SOD": 6, "SIC": 11, "FLOE": 7}


@dataclass
class GraphNode:
    """One node of :meth:`TinyIceNet.graph`: ``op`` in quantize/conv/maxpool/upsample/concat.

    ``level`` is the resolution level of the output (full resolution / 2**level); ``module`` is
    the conv, ``act`` its ReLU (None for the head, whose conv carries its own output quantizer)
    or, for ``quantize``, the input quantizer.
    """

    name: str
    op: str
    inputs: list[str]
    channels: int
    level: int
    module: nn.Module | None = field(default=None, repr=False)
    act: nn.Module | None = field(default=None, repr=False)


class FloatLayers:
    """Layer factory of the float model: plain torch layers (``role``/``group`` are ignored)."""

    quantized = False
    precision = None

    def input_quant(self) -> nn.Module:
        return nn.Identity()

    def conv(self, cin: int, cout: int, kernel: int, *, role: str = "",
             head: bool = False) -> nn.Module:
        return nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=True)

    def relu(self, group: str = "") -> nn.Module:
        return nn.ReLU()

    def bit_widths(self) -> dict[str, int] | None:
        return None


class QuantLayers:
    """Layer factory of the quantized twin: Brevitas layers with per-tensor power-of-two scales.

    Bits come from a :class:`~tinyicenet.models.precision.Precision`: conv ``role`` (``enc0``,
    ..., ``head``) picks the weight bits, ReLU ``group`` (``skip0``, ..., ``dec0``) the
    activation bits. Every quantized layer returns a QuantTensor so that the next conv knows its
    input scale (needed by the 32-bit bias quantizer, whose scale is ``input_scale *
    weight_scale``). Brevitas is imported here, not when the package is: the float model runs
    without it.
    """

    quantized = True

    def __init__(self, precision: Precision) -> None:
        self.precision = precision
        require_brevitas(f"a quantized TinyIceNet ({precision.label()})")

    def input_quant(self) -> nn.Module:
        from brevitas.nn import QuantIdentity

        from tinyicenet.models import quantizers as q
        return QuantIdentity(act_quant=q.InputQuant, bit_width=self.precision.input,
                             return_quant_tensor=True)

    def conv(self, cin: int, cout: int, kernel: int, *, role: str,
             head: bool = False) -> nn.Module:
        from brevitas.nn import QuantConv2d

        from tinyicenet.models import quantizers as q
        extra = {}
        if head:  # the head has no ReLU: its accumulator is requantised to signed logits
            extra = {"output_quant": q.OutputQuant, "output_bit_width": self.precision.output}
        return QuantConv2d(cin, cout, kernel, padding=kernel // 2, bias=True,
                           weight_quant=q.WeightQuant,
                           weight_bit_width=self.precision.weights[role],
                           bias_quant=q.BiasQuant, return_quant_tensor=True, **extra)

    def relu(self, group: str) -> nn.Module:
        from brevitas.nn import QuantReLU

        from tinyicenet.models import quantizers as q
        return QuantReLU(act_quant=q.ReluActQuant, bit_width=self.precision.acts[group],
                         return_quant_tensor=True)

    def bit_widths(self) -> dict[str, int]:
        return self.precision.bit_widths()


class TinyIceNet(nn.Module):
    """Compact U-Net for sea-ice charts; float or quantized depending on ``layers``."""

    def __init__(self, layers: FloatLayers | QuantLayers, *, in_channels: int = 2,
                 widths: Sequence[int] = (16, 32, 64), charts: Sequence[str] = ("SOD",),
                 skips: bool = True) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        charts = tuple(charts)
        if len(widths) < 2 or any(w < 1 for w in widths):
            raise ConfigError(f"widths {widths} is not valid: give at least two positive "
                              "channel counts (encoder levels..., bottleneck)")
        if int(in_channels) < 1:
            raise ConfigError(f"in_channels {in_channels} is not valid: must be >= 1")
        unknown = [c for c in charts if c not in CHART_CLASSES]
        if not charts or unknown or len(set(charts)) != len(charts):
            raise ConfigError(f"charts {charts} is not valid: give distinct names from "
                              f"{', '.join(CHART_CLASSES)}")
        self.in_channels = int(in_channels)
        self.widths = widths
        self.charts = charts
        self.skips = bool(skips)
        self.quantized = layers.quantized
        self.bit_widths = layers.bit_widths()
        self.num_classes = tuple(CHART_CLASSES[c] for c in charts)
        levels = len(widths) - 1
        self.stride = 2 ** levels

        prec = layers.precision
        if prec is not None and (prec.levels, prec.skips) != (levels, self.skips):
            raise ConfigError(f"precision {prec.label()} is for {prec.levels} levels, skips "
                              f"{prec.skips}, not for widths {widths}, skips {self.skips}")
        self.precision: Precision | None = prec
        self.input_quant = layers.input_quant()
        self.encoder = nn.ModuleList()
        cin = self.in_channels
        for i, w in enumerate(widths[:-1]):
            self.encoder.append(layers.conv(cin, w, 3, role=f"enc{i}"))
            cin = w
        self.bottleneck = layers.conv(widths[-2], widths[-1], 3, role="bottleneck")
        self.decoder = nn.ModuleList()
        for i in range(levels):  # decoder[i] works at level i and outputs widths[i]
            cin = widths[i + 1] + (widths[i] if self.skips else 0)
            self.decoder.append(layers.conv(cin, widths[i], 3, role=f"dec{i}"))
        self.head = layers.conv(widths[0], sum(self.num_classes), 1, role="head", head=True)

        # Activations. enc_act[i] follows encoder[i]; bott_act the bottleneck; dec_act[i]
        # follows decoder[i]. With skips, the ReLU whose output is upsampled into level i is the
        # same module as enc_act[i] (one shared quantizer per concatenation: the precision
        # group skip{i}, see tinyicenet.models.precision.act_groups).
        if self.skips:
            self.enc_act = nn.ModuleList(layers.relu(f"skip{i}") for i in range(levels))
            self.bott_act = self.enc_act[levels - 1]
            shared = [self.enc_act[i - 1] for i in range(1, levels)]
            self.dec_act = nn.ModuleList([layers.relu("dec0"), *shared])
        else:
            self.enc_act = nn.ModuleList(layers.relu(f"enc{i}") for i in range(levels))
            self.bott_act = layers.relu("bottleneck")
            self.dec_act = nn.ModuleList(layers.relu(f"dec{i}") for i in range(levels))
        self.pool = nn.MaxPool2d(2)
        # Nearest upsampling of an already-quantized tensor keeps its scale: no requantisation.
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.name = ""  # set by create_model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % self.stride or w % self.stride:
            raise ConfigError(
                f"input of {h}x{w} pixels is not a multiple of the model stride {self.stride}: "
                f"pad to {-(-h // self.stride) * self.stride}x{-(-w // self.stride) * self.stride}")
        x = self.input_quant(x)
        skips = []
        for conv, act in zip(self.encoder, self.enc_act):
            x = act(conv(x))
            skips.append(x)
            x = self.pool(x)
        x = self.bott_act(self.bottleneck(x))
        for i in reversed(range(len(self.decoder))):
            x = self.up(x)
            if self.skips:
                x = torch.cat([x, skips[i]], dim=1)
            x = self.dec_act[i](self.decoder[i](x))
        x = self.head(x)
        # the quantized head returns a Brevitas QuantTensor (not a torch.Tensor): its dequantised
        # value is the logits (checked without importing Brevitas, which a float-only install lacks)
        return x if isinstance(x, torch.Tensor) else x.value

    def graph(self) -> list[GraphNode]:
        """The layer graph in execution order (the same as :meth:`forward`).

        Node names: ``input``, ``enc{i}``, ``pool{i}``, ``bottleneck``, ``up{i}``, ``cat{i}``,
        ``dec{i}``, ``head``; each node writes the tensor of its own name. Exporters, the
        integer reference and the summary walk this list instead of re-deriving the topology.
        """
        nodes = [GraphNode("input", "quantize", ["x"], self.in_channels, level=0,
                           act=self.input_quant)]
        cur, skips = "input", []
        for i, (conv, act) in enumerate(zip(self.encoder, self.enc_act)):
            nodes.append(GraphNode(f"enc{i}", "conv", [cur], conv.out_channels, i, conv, act))
            skips.append(f"enc{i}")
            nodes.append(GraphNode(f"pool{i}", "maxpool", [f"enc{i}"], conv.out_channels, i + 1))
            cur = f"pool{i}"
        levels = len(self.encoder)
        nodes.append(GraphNode("bottleneck", "conv", [cur], self.bottleneck.out_channels, levels,
                               self.bottleneck, self.bott_act))
        cur = "bottleneck"
        for i in reversed(range(levels)):
            channels = nodes[-1].channels
            nodes.append(GraphNode(f"up{i}", "upsample", [cur], channels, i))
            cur = f"up{i}"
            if self.skips:
                nodes.append(GraphNode(f"cat{i}", "concat", [cur, skips[i]],
                                       channels + self.widths[i], i))
                cur = f"cat{i}"
            conv = self.decoder[i]
            nodes.append(GraphNode(f"dec{i}", "conv", [cur], conv.out_channels, i, conv,
                                   self.dec_act[i]))
            cur = f"dec{i}"
        nodes.append(GraphNode("head", "conv", [cur], self.head.out_channels, 0, self.head))
        return nodes

    def split(self, logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split the concatenated logits ``[N, sum(classes), H, W]`` into one tensor per chart."""
        parts = torch.split(logits, list(self.num_classes), dim=1)
        return dict(zip(self.charts, parts))

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, widths={self.widths}, charts={self.charts}, "
                f"skips={self.skips}, bit_widths={self.bit_widths}")
