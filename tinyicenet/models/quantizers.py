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

from tinyicenet.models.bits import INPUT_BITS, MAX_BITS, MIN_BITS, OUTPUT_BITS, check_bits
from tinyicenet.models.deps import require_brevitas

# Only this module (and the quantized layers that use it) needs Brevitas: the float model and
# tinyicenet.models import without it. Importing it where Brevitas is missing is one clear error.
require_brevitas("the quantized TinyIceNet (tinyicenet.models.quantizers)")

from brevitas.quant import (  # noqa: E402 - after the clear-error check
    Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Int8WeightPerTensorFixedPointMSE,
    Int32Bias, Uint8ActPerTensorFixedPoint)

__all__ = ["INPUT_BITS", "MAX_BITS", "MIN_BITS", "MSE_WEIGHT_BITS", "OUTPUT_BITS", "BiasQuant",
           "InputQuant", "LowBitWeightQuant", "OutputQuant", "ReluActQuant", "WeightQuant",
           "check_bits", "weight_quant"]

#: Weights of at most this many bits take their scale from an MSE search, not from max |w|.
MSE_WEIGHT_BITS = 2


class InputQuant(Int8ActPerTensorFixedPoint):
    """Signed fixed point for the network input (radix point from runtime statistics)."""

    # 8 bits: INPUT_BITS. Signed, full range [-2**(b-1), 2**(b-1) - 1].


class WeightQuant(Int8WeightPerTensorFixedPoint):
    """Signed narrow-range fixed-point weights, radix point from max |w| (recomputed each step).

    Narrow range ([-(2**(W-1) - 1), 2**(W-1) - 1]) keeps the weight symmetric, so a 2-bit weight
    is ternary {-1, 0, 1} * 2**e.
    """


class LowBitWeightQuant(Int8WeightPerTensorFixedPointMSE):
    """Like :class:`WeightQuant`, but the power-of-two scale minimises the quantisation error.

    Why: a ternary weight scaled from max |w| keeps only the weights above half the largest one
    (1-2 % of the large convs of a trained TinyIceNet), which collapses w2 models; the MSE scale
    keeps 40-80 % (bench/w2a2_notes.md). Same state (the weight only) and the same integer
    semantics, so the integer reference and hls4ml read it like any other weight quantizer.
    """


def weight_quant(bits: int) -> type:
    """The weight quantizer for ``bits``-bit weights."""
    return LowBitWeightQuant if bits <= MSE_WEIGHT_BITS else WeightQuant


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

