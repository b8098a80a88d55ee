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

Modules, one job each: :mod:`~tinyicenet.export.intref.arithmetic` (layers, rounding, convolution,
the forward), :mod:`~tinyicenet.export.intref.extract` (from Brevitas),
:mod:`~tinyicenet.export.intref.files` (``.npz`` / ``.json``). Everything is importable from
this package as before.
"""

from tinyicenet.export.intref.arithmetic import (CONV_IMPLS, FLOAT32_EXACT, FLOAT64_EXACT, FORMAT,
                                                 VERSION, IntLayer, IntModel, conv_int, int_range,
                                                 requantize, round_shift)
from tinyicenet.export.intref.extract import from_brevitas
from tinyicenet.export.intref.files import load_intref, save_intref

__all__ = ["CONV_IMPLS", "FLOAT32_EXACT", "FLOAT64_EXACT", "FORMAT", "VERSION", "IntLayer",
           "IntModel", "conv_int", "from_brevitas", "int_range", "load_intref", "requantize",
           "round_shift", "save_intref"]
