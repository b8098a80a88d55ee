"""Every quantizer the project uses, in one place.

All scales are per-tensor powers of two (Brevitas fixed-point quantizers: the scale is
``2 ** ceil(log2(s))`` of a statistic-derived or learned ``s``). That is what makes the model a
plain fixed-point network: a requantisation is a shift, hls4ml maps every tensor to an exact
``ap_fixed``/``ap_ufixed`` type, and the integer reference (:mod:`tinyicenet.export.intref`)
reproduces Brevitas value for value. Bit widths are stated at each layer, 2..8 bits.

Rounding is Brevitas' ``RoundSte`` (``torch.round``: half to even = AP_RND_CONV); clamping is
saturation (AP_SAT).
"""

from __future__ import annotations

from brevitas.quant import (Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint,
                            Int32Bias, Uint8ActPerTensorFixedPoint)

from tinyicenet.errors import ConfigError

MIN_BITS = 2
MAX_BITS = 8

#: Input of the network: signed 8-bit fixed point (the z-scored SAR backscatter).
INPUT_BITS = 8
#: Head (logits) output: signed 8-bit fixed point; argmax and the dequantised logits use it.
OUTPUT_BITS = 8


class InputQuant(Int8ActPerTensorFixedPoint):
    """Signed fixed point for the network input (radix point from runtime statistics)."""

    # 8 bits: INPUT_BITS. Signed, full range [-2**(b-1), 2**(b-1) - 1].


class WeightQuant(Int8WeightPerTensorFixedPoint):
    """Signed narrow-range fixed-point weights, radix point from max |w| (recomputed each step).

    Narrow range ([-(2**(W-1) - 1), 2**(W-1) - 1]) keeps the weight symmetric, so a 2-bit weight
    is ternary {-1, 0, 1} * 2**e.
    """


class ReluActQuant(Uint8ActPerTensorFixedPoint):
    """Unsigned fixed point after each ReLU: [0, 2**A - 1] * 2**e, learned radix point."""


class OutputQuant(Int8ActPerTensorFixedPoint):
    """Signed 8-bit fixed point on the head's logits."""


class BiasQuant(Int32Bias):
    """32-bit signed integer bias in the accumulator scale ``2**(e_in + e_w)``.

    The scale is not a free parameter: it is the product of the input and weight scales, so the
    bias adds to the integer accumulator with no shift, exactly as in hls4ml and the integer
    reference.
    """


def check_bits(bits: int, what: str) -> int:
    """Return ``bits`` if within the supported 2..8 range, else raise ConfigError."""
    if not isinstance(bits, int) or isinstance(bits, bool) or not MIN_BITS <= bits <= MAX_BITS:
        raise ConfigError(f"{what} bit width {bits!r} is not supported: use an integer in "
                          f"{MIN_BITS}..{MAX_BITS}")
    return bits
