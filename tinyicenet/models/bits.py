"""Bit-width facts of the quantized twin (no Brevitas needed to read them)."""

from __future__ import annotations

from tinyicenet.errors import ConfigError

MIN_BITS = 2
MAX_BITS = 8

#: Input of the network: signed 8-bit fixed point (the z-scored SAR backscatter).
INPUT_BITS = 8
#: Head (logits) output: signed 8-bit fixed point; argmax and the dequantised logits use it.
OUTPUT_BITS = 8


def check_bits(bits: int, what: str) -> int:
    """Return ``bits`` if within the supported 2..8 range, else raise ConfigError."""
    if not isinstance(bits, int) or isinstance(bits, bool) or not MIN_BITS <= bits <= MAX_BITS:
        raise ConfigError(f"{what} bit width {bits!r} is not supported: use an integer in "
                          f"{MIN_BITS}..{MAX_BITS}")
    return bits
