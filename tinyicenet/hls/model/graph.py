"""The generated io_stream design as a list of streaming layers, read from the hls4ml model.

One :class:`StreamLayer` per hls4ml layer (including the zero-padding, clone and activation layers
hls4ml inserts), with the stream names it reads and writes, so the timing and resource models see
exactly the processes and FIFOs of the generated ``myproject.cpp``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tinyicenet.errors import ExportError

#: hls4ml layer class -> the kind the models know
KINDS = {
    "Input": "input",
    "Activation": "elementwise",
    "ReLU": "elementwise",
    "Quant": "elementwise",
    "ZeroPadding2D": "pad",
    "Conv2D": "conv",
    "PointwiseConv2D": "pointwise",
    "Pooling2D": "pool",
    "Resize": "resize",
    "Concatenate": "concat",
    "Clone": "clone",
}


@dataclass
class StreamLayer:
    """One dataflow process of the design."""

    name: str
    kind: str
    inputs: list[str]
    outputs: list[str]
    in_shape: tuple[int, int, int]  # H, W, C of the (first) input stream
    out_shape: tuple[int, int, int]
    in_bits: list[int] = field(default_factory=list)  # bits per value of each input stream
    out_bits: int = 8
    kernel: int = 1
    n_in: int = 0  # dense inputs per output pixel (K*K*C) for conv/pointwise
    n_out: int = 0
    reuse_factor: int = 1
    strategy: str = "resource"
    weight_bits: int = 0
    accum_bits: int = 0
    pool: int = 1

    @property
    def multipliers(self) -> int:
        """Parallel multipliers of a conv (hls4ml's block factor)."""
        if self.kind not in ("conv", "pointwise"):
            return 0
        return -(-self.n_in * self.n_out // max(1, self.reuse_factor))


_WIDTH = re.compile(r"<\s*(\d+)")


def precision_bits(precision) -> int:
    """Total bits of an hls4ml precision object or string (``fixed<8,3>`` -> 8)."""
    width = getattr(precision, "width", None)
    if width is not None:
        return int(width)
    m = _WIDTH.search(str(precision))
    if not m:
        raise ExportError(f"cannot read a bit width from precision {precision!r}")
    return int(m.group(1))


def _shape(var) -> tuple[int, int, int]:
    shape = [int(s) for s in var.shape]
    if len(shape) != 3:
        raise ExportError(f"stream {var.name} has shape {shape}; the models need H x W x C")
    return shape[0], shape[1], shape[2]


def layers_from_hls_model(hls_model) -> list[StreamLayer]:
    """The layers of a converted hls4ml ``ModelGraph`` (io_stream) as :class:`StreamLayer`."""
    layers = []
    for layer in hls_model.get_layers():
        kind = KINDS.get(layer.class_name)
        if kind is None:
            raise ExportError(f"hls4ml layer {layer.name} of class {layer.class_name} has no "
                              f"resource/timing model (modelled: {', '.join(sorted(KINDS))})")
        in_vars = [hls_model.get_layer_output_variable(i) for i in layer.inputs] \
            if kind != "input" else []
        out_names = list(layer.outputs)
        out_var = hls_model.get_layer_output_variable(out_names[0])
        out_shape = _shape(out_var)
        in_shape = _shape(in_vars[0]) if in_vars else out_shape
        spec = StreamLayer(
            name=layer.name, kind=kind, inputs=list(layer.inputs) if in_vars else [],
            outputs=out_names,
            in_shape=in_shape, out_shape=out_shape,
            in_bits=[precision_bits(v.type.precision) for v in in_vars],
            out_bits=precision_bits(out_var.type.precision))
        if kind in ("conv", "pointwise"):
            k = int(layer.get_attr("filt_height") or 1)
            spec.kernel = k
            spec.n_in = k * int(layer.get_attr("filt_width") or k) * int(layer.get_attr("n_chan"))
            spec.n_out = int(layer.get_attr("n_filt"))
            spec.reuse_factor = int(layer.get_attr("reuse_factor") or 1)
            spec.strategy = str(layer.get_attr("strategy") or "latency").lower()
            weights = layer.get_weights()
            for w in weights:
                if w.name.startswith("w"):
                    spec.weight_bits = precision_bits(w.type.precision)
            accum = layer.get_attr("accum_t")
            spec.accum_bits = precision_bits(accum.precision) if accum is not None \
                else spec.out_bits
        if kind == "pool":
            spec.pool = int(layer.get_attr("pool_height") or 2)
        layers.append(spec)
    return layers
