"""The integer reference model: the one truth for the quantized TinyIceNet's numbers.

Every backend (Brevitas float simulation, QONNX execution, hls4ml C simulation, GPU kernels,
the board) must produce exactly the head integers computed here. The arithmetic is the
"Integer semantics" contract of ``tinyicenet/README.md``:

* a tensor is ``int array * 2**exp``; every exponent is an integer (power-of-two scales);
* input: ``q = clamp(round_half_even(x * 2**-e), -2**(b-1), 2**(b-1) - 1)``;
* conv (3x3 pad 1, or 1x1): ``acc = sum(q_in * w) + b`` in a wide integer (int64), weights
  signed narrow range, bias int32 in the accumulator scale ``2**(e_in + e_w)``;
* requantise: ``clamp(round_half_even(acc * 2**(e_in + e_w - e_out)), lo, hi)``, a right shift
  by ``shift = e_out - e_in - e_w`` with round-half-to-even (AP_RND_CONV) and saturation
  (AP_SAT); ``lo, hi = 0, 2**A - 1`` after a ReLU, ``-2**(B-1), 2**(B-1) - 1`` for the head;
* max-pool 2x2/2 and nearest 2x upsample act on the integers; concatenation joins tensors of
  one exponent along channels (the model shares the quantizer of the two branches).

Layer structure (``IntModel.layers``, in execution order; each layer writes the tensor named
``layer.output`` = ``layer.name``; ``IntModel.tensors`` maps tensor name -> exp/bits/signed):

============  =================================================================================
op            fields used
============  =================================================================================
quantize      inputs ``["x"]`` (the float input); ``out_exp``, ``out_bits``, ``out_signed``
conv          ``weight`` int8 ``[O, I, k, k]``, ``bias`` int32 ``[O]``, ``kernel``, ``padding``,
              ``relu``, ``in_exp``, ``weight_exp``, ``weight_bits``, ``out_exp``, ``out_bits``,
              ``out_signed``, ``shift``, ``acc_bits`` (signed accumulator width that cannot
              overflow: a static bound from the weights and the input range)
maxpool       2x2, stride 2 (exponent and bits unchanged)
upsample      nearest, factor 2 (exponent and bits unchanged)
concat        channel concatenation of ``inputs`` in order (``[upsampled, skip]``)
============  =================================================================================

Default graph (widths (16, 32, 64), skips): input, enc0, pool0, enc1, pool1, bottleneck, up1,
cat1 = [up1, enc1], dec1, up0, cat0 = [up0, enc0], dec0, head. Without skips there are no
``cat`` layers and each ``dec{i}`` reads ``up{i}``.

Files: ``save_intref(model, path.npz)`` writes one ``.npz`` holding the arrays
(``<layer>.weight``, ``<layer>.bias``) and the metadata as JSON text (key ``meta``), plus a
human-readable copy of that JSON beside it (``path.json``); both atomically. ``load_intref``
reads only the ``.npz`` (``allow_pickle=False``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyicenet.atomic import atomic_path
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
    """One layer of the integer model (see the module docstring for which fields each op uses)."""

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


# ---- extraction from Brevitas -------------------------------------------------------------

def _exp(scale: Any, what: str) -> int:
    s = float(scale.detach().reshape(-1)[0]) if hasattr(scale, "detach") else float(scale)
    if not s > 0:
        raise ExportError(f"{what}: scale {s} is not positive")
    e = math.log2(s)
    if e != round(e):
        raise ExportError(f"{what}: scale {s} is not a power of two; the integer reference "
                          "needs fixed-point (power-of-two) quantizers")
    return int(round(e))


def _acc_bound(in_bits: int, in_signed: bool, w: np.ndarray, b: np.ndarray) -> int:
    lo, hi = int_range(in_bits, in_signed)
    x_max = max(abs(lo), abs(hi))
    per_out = np.abs(w.astype(np.int64)).reshape(w.shape[0], -1).sum(axis=1)
    return int((per_out * x_max + np.abs(b.astype(np.int64))).max())


def from_brevitas(model: Any) -> IntModel:
    """Extract the integer model from a quantized TinyIceNet (Brevitas twin), in eval mode.

    The graph mirrors ``TinyIceNet.forward``; integers and exponents come from Brevitas'
    own quantizers (``quant_weight().int()``, the bias proxy, ``act_quant.scale()``).
    """
    import torch
    from brevitas.quant_tensor import IntQuantTensor

    if not getattr(model, "quantized", False):
        raise ExportError(f"model {getattr(model, 'name', '?')!r} is a float model: the integer "
                          "reference needs a quantized model (tinyicenet_w{W}a{A})")
    was_training = model.training
    model.eval()
    layers: list[IntLayer] = []
    tensors: dict[str, tuple[int, int, bool, int]] = {}

    def add(layer: IntLayer) -> str:
        layers.append(layer)
        tensors[layer.output] = (layer.out_exp, layer.out_bits, layer.out_signed, layer.channels)
        return layer.output

    def add_conv(name: str, conv: Any, act: Any, src: str) -> str:
        in_exp, in_bits, in_signed, _ = tensors[src]
        qw = conv.quant_weight()
        w_exp, w_bits = _exp(qw.scale, f"{name} weight"), int(qw.bit_width)
        w_int = qw.int().to(torch.int64).numpy()
        # a stand-in input carrying only the scale: the bias proxy reads input scale x weight scale
        inp = IntQuantTensor(torch.zeros(1, int(conv.in_channels), 1, 1),
                             torch.tensor(2.0 ** in_exp), torch.tensor(0.0),
                             torch.tensor(float(in_bits)), in_signed, False)
        qb = conv.bias_quant(conv.bias, inp, qw)
        if _exp(qb.scale, f"{name} bias") != in_exp + w_exp:
            raise ExportError(f"{name}: bias scale is not the accumulator scale 2**(e_in + e_w)")
        b_int = qb.int().to(torch.int64).numpy()
        if act is None:  # head: the conv's own output quantizer, signed
            oq = conv.output_quant
            out_exp, out_bits, relu, signed = (_exp(oq.scale(), f"{name} output"),
                                               int(oq.bit_width()), False, True)
        else:
            aq = act.act_quant
            out_exp, out_bits, relu, signed = (_exp(aq.scale(), f"{name} activation"),
                                               int(aq.bit_width()), True, False)
        if np.abs(w_int).max(initial=0) > 127 or np.abs(b_int).max(initial=0) >= 2 ** 31:
            raise ExportError(f"{name}: integer weights or bias out of int8/int32 range")
        bound = _acc_bound(in_bits, in_signed, w_int, b_int)
        k = int(conv.kernel_size[0])
        return add(IntLayer(
            name=name, op="conv", inputs=[src], output=name, out_exp=out_exp, out_bits=out_bits,
            out_signed=signed, channels=int(conv.out_channels), in_exp=in_exp, weight_exp=w_exp,
            weight_bits=w_bits, kernel=k, padding=int(conv.padding[0]), relu=relu,
            shift=out_exp - in_exp - w_exp, acc_bound=bound,
            acc_bits=int(bound).bit_length() + 1,
            weight=w_int.astype(np.int8), bias=b_int.astype(np.int32)))

    def add_same(name: str, op: str, srcs: list[str]) -> str:
        e, b, s, _ = tensors[srcs[0]]
        channels = sum(tensors[t][3] for t in srcs)
        return add(IntLayer(name=name, op=op, inputs=srcs, output=name, out_exp=e, out_bits=b,
                            out_signed=s, channels=channels))

    try:
        with torch.no_grad():
            for node in model.graph():
                if node.op == "quantize":
                    iq = node.act.act_quant
                    add(IntLayer(name=node.name, op="quantize", inputs=list(node.inputs),
                                 output=node.name, out_exp=_exp(iq.scale(), "input quantizer"),
                                 out_bits=int(iq.bit_width()), out_signed=True,
                                 channels=node.channels))
                elif node.op == "conv":
                    add_conv(node.name, node.module, node.act, node.inputs[0])
                else:
                    add_same(node.name, node.op, list(node.inputs))
    finally:
        model.train(was_training)
    facts = {"name": model.name, "in_channels": model.in_channels, "widths": list(model.widths),
             "charts": list(model.charts), "num_classes": list(model.num_classes),
             "skips": model.skips, "stride": model.stride, "bit_widths": model.bit_widths}
    if getattr(model, "precision", None) is not None:
        facts["precision"] = model.precision.to_dict()
    return IntModel(layers=layers, model=facts)


# ---- files -------------------------------------------------------------------------------------

def save_intref(model: IntModel, path: str | os.PathLike[str], *, sidecar: bool = True) -> Path:
    """Write ``path`` (.npz: arrays + JSON meta) and, if ``sidecar``, ``path`` with .json."""
    p = Path(path)
    if p.suffix != ".npz":
        raise ExportError(f"{p}: the integer model file must end in .npz")
    meta = model.meta()
    text = json.dumps(meta, indent=1)
    arrays: dict[str, np.ndarray] = {"meta": np.array(text)}
    for lay in model.conv_layers():
        arrays[f"{lay.name}.weight"] = lay.weight
        arrays[f"{lay.name}.bias"] = lay.bias
    with atomic_path(p) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    if sidecar:
        with atomic_path(p.with_suffix(".json")) as tmp:
            tmp.write_text(text + "\n")
    return p


def load_intref(path: str | os.PathLike[str]) -> IntModel:
    """Read an integer model written by :func:`save_intref`; problems raise ExportError."""
    p = Path(path)
    if not p.is_file():
        raise ExportError(f"{p}: integer model file not found")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays.pop("meta")))
    except Exception as exc:  # noqa: BLE001 - zip/npy/json errors all mean a bad file
        raise ExportError(f"{p}: not a readable integer model (corrupt or truncated?): "
                          f"{type(exc).__name__}: {str(exc)[:160]}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ExportError(f"{p}: not a tinyicenet integer model (format is not {FORMAT!r})")
    if meta.get("version") != VERSION:
        raise ExportError(f"{p}: integer model version {meta.get('version')!r} is not supported")
    layers = []
    try:
        for d in meta["layers"]:
            lay = IntLayer(**d)
            if lay.op == "conv":
                lay.weight = arrays[f"{lay.name}.weight"].astype(np.int8)
                lay.bias = arrays[f"{lay.name}.bias"].astype(np.int32)
                if lay.weight.shape[0] != lay.channels or lay.bias.shape != (lay.channels,):
                    raise ValueError(f"layer {lay.name} arrays do not match {lay.channels} "
                                     "output channels")
            layers.append(lay)
        return IntModel(layers=layers, model=meta["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError(f"{p}: inconsistent integer model: {exc}") from None
