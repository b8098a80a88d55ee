"""Integer arithmetic of the reference model: layers, rounding, convolution, the forward.

The semantics are the package's (:mod:`tinyicenet.export.intref`): power-of-two exponents,
round half to even with saturation, exact integer convolutions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tinyicenet.errors import DataError, ExportError, VerificationError

FORMAT = "tinyicenet-intref"
VERSION = 1
# float64 holds every integer below 2**53 exactly: the BLAS shortcut for the convolution is
# exact only while every partial sum stays below this bound (checked per layer, statically).
FLOAT64_EXACT = 2 ** 53
# Brevitas simulates in float32: exact while accumulators stay below 2**24 units.
FLOAT32_EXACT = 2 ** 24


@dataclass
class IntLayer:
    """One layer of the integer model (:mod:`tinyicenet.export.intref` says which fields each
    op uses)."""

    name: str
    op: str
    inputs: list[str]
    output: str
    out_exp: int
    out_bits: int
    out_signed: bool
    channels: int
    in_exp: int | None = None
    weight_exp: int | None = None
    weight_bits: int | None = None
    kernel: int | None = None
    padding: int | None = None
    relu: bool | None = None
    shift: int | None = None
    acc_bits: int | None = None
    acc_bound: int | None = None
    weight: np.ndarray | None = field(default=None, repr=False)
    bias: np.ndarray | None = field(default=None, repr=False)

    def meta(self) -> dict[str, Any]:
        """JSON-ready description (no arrays)."""
        d = asdict(self)
        d.pop("weight")
        d.pop("bias")
        return {k: v for k, v in d.items() if v is not None}

    @property
    def out_range(self) -> tuple[int, int]:
        return int_range(self.out_bits, self.out_signed)


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    """Saturation range of a ``bits``-wide integer (full range, as Brevitas activations)."""
    if signed:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2 ** bits - 1


def round_shift(acc: np.ndarray, shift: int) -> np.ndarray:
    """``round_half_even(acc * 2**-shift)`` on int64, exactly (AP_RND_CONV for shift > 0)."""
    acc = acc.astype(np.int64, copy=False)
    if shift <= 0:
        return acc << -shift
    q = acc >> shift  # arithmetic shift: floor division by 2**shift
    r = acc - (q << shift)  # remainder in [0, 2**shift)
    half = np.int64(1) << (shift - 1)
    return q + ((r > half) | ((r == half) & ((q & 1) == 1)))


def requantize(acc: np.ndarray, shift: int, lo: int, hi: int) -> np.ndarray:
    """Round (half to even) and saturate an accumulator to the output integer range."""
    return np.clip(round_shift(acc, shift), lo, hi)


def _conv_blas(x: np.ndarray, w: np.ndarray, padding: int, dtype: Any,
               bound: int | None = None, name: str = "conv") -> np.ndarray:
    """Integer convolution through torch's CPU float convolution (oneDNN / BLAS GEMM).

    Exact when every operand, product and partial sum is an integer whose magnitude is at most
    the layer's static ``acc_bound`` (any partial sum is a sum of a subset of the terms) and the
    caller only uses a float type that holds every integer below that bound (2**24 for float32,
    2**53 for float64): each multiply and add is then exact in any summation order, for a direct
    or GEMM algorithm. A transform algorithm (Winograd, FFT) would not be: this function does not
    rely on torch never choosing one. Every result is checked to be an integer within
    ``bound``; anything else raises VerificationError (never a silent truncation) and the caller
    can use the pure integer path (``conv_impl="int64"``).
    """
    import torch
    out = torch.nn.functional.conv2d(torch.from_numpy(x.astype(dtype)),
                                     torch.from_numpy(w.astype(dtype)), padding=padding).numpy()
    rounded = np.rint(out)
    bad = rounded != out
    if bound is not None:
        bad |= np.abs(out) > bound
    if bad.any():
        worst = float(np.abs(out - rounded).max())
        raise VerificationError(
            f"integer reference, layer {name}: the float convolution returned {int(bad.sum())} "
            f"non-integer or out-of-bound sums (largest fraction {worst:.3g}; a transform "
            "algorithm or a lost bit): its result is not exact, use conv_impl='int64'")
    return rounded.astype(np.int64)


def _conv_int64(x: np.ndarray, w: np.ndarray, padding: int) -> np.ndarray:
    """Pure int64 convolution (slow; the cross-check of the float shortcuts)."""
    k = w.shape[-1]
    xp = np.pad(x.astype(np.int64), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))  # N,I,H,W,k,k
    return np.einsum("nihwab,oiab->nohw", win, w.astype(np.int64), optimize=True)


def conv_int(x: np.ndarray, layer: IntLayer, impl: str = "auto") -> np.ndarray:
    """``sum(x * w)`` of ``layer`` (no bias) as int64 with the implementation ``impl``.

    ``auto``: float32 when ``acc_bound < 2**24``, else float64 (``acc_bound < 2**53`` is checked
    when the model is built); ``float32`` / ``float64`` force one (float32 refuses a layer whose
    bound it cannot hold); ``int64``: pure integer, slow.
    """
    if impl == "int64":
        return _conv_int64(x, layer.weight, layer.padding)
    if impl not in CONV_IMPLS:
        raise ExportError(f"unknown conv implementation {impl!r}; use {', '.join(CONV_IMPLS)}")
    if impl == "float32" or (impl == "auto" and layer.acc_bound < FLOAT32_EXACT):
        if layer.acc_bound >= FLOAT32_EXACT:
            raise ExportError(f"layer {layer.name}: accumulator bound {layer.acc_bound} is not "
                              "exact in float32; use conv_impl='float64' or 'auto'")
        return _conv_blas(x, layer.weight, layer.padding, np.float32, layer.acc_bound,
                          layer.name)
    return _conv_blas(x, layer.weight, layer.padding, np.float64, layer.acc_bound, layer.name)


CONV_IMPLS = ("auto", "float32", "float64", "int64")


@dataclass
class IntModel:
    """The integer network: layers in execution order plus the model facts."""

    layers: list[IntLayer]
    model: dict[str, Any]
    tensors: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tensors = {lay.output: {"exp": lay.out_exp, "bits": lay.out_bits,
                                     "signed": lay.out_signed, "channels": lay.channels}
                        for lay in self.layers}
        self._check()

    # ---- facts -----------------------------------------------------------------------------
    @property
    def input_layer(self) -> IntLayer:
        return self.layers[0]

    @property
    def output_layer(self) -> IntLayer:
        return self.layers[-1]

    @property
    def input_exp(self) -> int:
        return self.input_layer.out_exp

    @property
    def input_bits(self) -> int:
        return self.input_layer.out_bits

    @property
    def output_exp(self) -> int:
        return self.output_layer.out_exp

    @property
    def output_bits(self) -> int:
        return self.output_layer.out_bits

    @property
    def stride(self) -> int:
        return int(self.model["stride"])

    def conv_layers(self) -> list[IntLayer]:
        return [lay for lay in self.layers if lay.op == "conv"]

    def float32_exact(self) -> bool:
        """True when no accumulator can reach 2**24 (Brevitas' float32 simulation is exact)."""
        return all(lay.acc_bound < FLOAT32_EXACT for lay in self.conv_layers())

    def _check(self) -> None:
        if not self.layers or self.layers[0].op != "quantize":
            raise ExportError("integer model: the first layer must be the input 'quantize'")
        known = {"x"}
        for lay in self.layers:
            missing = [t for t in lay.inputs if t not in known]
            if missing:
                raise ExportError(f"integer model: layer {lay.name} reads unknown tensor(s) "
                                  f"{missing}")
            if lay.op == "concat":
                exps = {self.tensors[t]["exp"] for t in lay.inputs}
                if len(exps) != 1:
                    raise ExportError(f"integer model: concat {lay.name} joins tensors of "
                                      f"different exponents {sorted(exps)}; the branches must "
                                      "share one activation quantizer")
            if lay.op == "conv" and lay.acc_bound >= FLOAT64_EXACT:
                raise ExportError(f"integer model: layer {lay.name} accumulator bound "
                                  f"{lay.acc_bound} exceeds 2**53")
            known.add(lay.output)

    # ---- arithmetic --------------------------------------------------------------------------
    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """Float input ``[N, C, H, W]`` -> integer codes (int16), round half to even, saturate."""
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[1] != self.model["in_channels"]:
            raise DataError(f"integer model input must be [N, {self.model['in_channels']}, H, W], "
                            f"got shape {list(x.shape)}")
        if not np.isfinite(x).all():
            raise DataError("integer model input contains NaN or infinite values")
        lo, hi = self.input_layer.out_range
        # x * 2**-e is exact in float64 (a power-of-two scaling); np.rint rounds half to even
        q = np.rint(x.astype(np.float64) * 2.0 ** -self.input_exp)
        return np.clip(q, lo, hi).astype(np.int16)

    def dequantize_output(self, q: np.ndarray) -> np.ndarray:
        """Head integer codes -> float32 logits ``q * 2**exp``."""
        return (np.asarray(q, dtype=np.float64) * 2.0 ** self.output_exp).astype(np.float32)

    def run_int(self, q_in: np.ndarray, *, conv_impl: str = "auto",
                keep: bool = False) -> np.ndarray | dict[str, np.ndarray]:
        """Integer forward from input codes; returns the head codes (int32 ``[N, K, H, W]``).

        ``keep=True`` returns every tensor by name instead (for layer-by-layer debugging of
        another backend). ``conv_impl``: see :func:`conv_int` (default ``"auto"``: the fastest
        float convolution that is exact for the layer's accumulator bound).
        """
        h, w = q_in.shape[-2:]
        if h % self.stride or w % self.stride:
            raise DataError(f"integer model input of {h}x{w} pixels is not a multiple of the "
                            f"model stride {self.stride}")
        values: dict[str, np.ndarray] = {}
        for lay in self.layers:
            if lay.op == "quantize":
                lo, hi = lay.out_range
                if q_in.min(initial=0) < lo or q_in.max(initial=0) > hi:
                    raise DataError(f"input codes outside [{lo}, {hi}]")
                y = q_in.astype(np.int32)
            elif lay.op == "conv":
                acc = conv_int(values[lay.inputs[0]], lay, conv_impl)
                acc += lay.bias.astype(np.int64)[None, :, None, None]
                y = requantize(acc, lay.shift, *lay.out_range).astype(np.int32)
            elif lay.op == "maxpool":
                x = values[lay.inputs[0]]
                n, c, hh, ww = x.shape
                y = x.reshape(n, c, hh // 2, 2, ww // 2, 2).max(axis=(3, 5))
            elif lay.op == "upsample":
                y = values[lay.inputs[0]].repeat(2, axis=2).repeat(2, axis=3)
            elif lay.op == "concat":
                y = np.concatenate([values[t] for t in lay.inputs], axis=1)
            else:
                raise ExportError(f"integer model: unknown op {lay.op!r} in layer {lay.name}")
            values[lay.output] = y
        return values if keep else values[self.output_layer.output]

    def __call__(self, x: np.ndarray, *, batch_size: int = 4) -> np.ndarray:
        """Float input -> dequantised float32 logits, computed in batches of ``batch_size``."""
        outs = [self.dequantize_output(self.run_int(self.quantize_input(x[i:i + batch_size])))
                for i in range(0, len(x), batch_size)]
        return np.concatenate(outs) if outs else np.zeros((0,), np.float32)

    def split(self, logits: np.ndarray) -> dict[str, np.ndarray]:
        """Per-chart slices of ``[N, sum(classes), H, W]`` along axis 1."""
        bounds = np.cumsum(self.model["num_classes"])[:-1]
        return dict(zip(self.model["charts"], np.split(logits, bounds, axis=1)))

    # ---- description ---------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        out = self.output_layer
        return {"format": FORMAT, "version": VERSION, "model": self.model,
                "input": {"tensor": self.input_layer.output, "exp": self.input_exp,
                          "bits": self.input_bits, "signed": True},
                "output": {"tensor": out.output, "exp": out.out_exp, "bits": out.out_bits,
                           "signed": out.out_signed},
                "tensors": self.tensors, "layers": [lay.meta() for lay in self.layers]}
