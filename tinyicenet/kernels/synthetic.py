"""Random integer TinyIceNets in the integer reference's own form (``IntModel``).

For tests and speed runs where no trained Brevitas model is at hand (the GPU machine has no
Brevitas): the layers follow ``tinyicenet.export.intref`` exactly (same names, ops, wiring,
exponent bookkeeping), so the reference computes their outputs with its own code. Weights are
signed narrow-range ``W``-bit, activations unsigned ``A``-bit, the head signed 8-bit; shifts
follow the fan-in so that activations spread over their range instead of saturating, and the
biases are wide enough to reach both clamps. All activations share one exponent, as the
trained model's concatenated branches do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

ACT_EXP = -4
INPUT_EXP = -4
INPUT_BITS = 8
OUTPUT_BITS = 8


def random_intmodel(*, in_channels: int = 2, widths: Sequence[int] = (16, 32, 64),
                    classes: int = 6, weight_bits: int = 8, act_bits: int = 8,
                    skips: bool = True, seed: int = 0) -> Any:
    """A random ``IntModel`` with TinyIceNet's topology and the given bit widths."""
    from tinyicenet.export.intref import IntLayer, IntModel

    rng = np.random.default_rng(seed)
    layers: list[IntLayer] = []
    info: dict[str, tuple[int, int, bool, int]] = {}  # tensor -> exp, bits, signed, channels

    def add(lay: IntLayer) -> str:
        layers.append(lay)
        info[lay.output] = (lay.out_exp, lay.out_bits, lay.out_signed, lay.channels)
        return lay.output

    def same(name: str, op: str, srcs: list[str]) -> str:
        e, b, s, _ = info[srcs[0]]
        return add(IntLayer(name=name, op=op, inputs=srcs, output=name, out_exp=e, out_bits=b,
                            out_signed=s, channels=sum(info[t][3] for t in srcs)))

    def conv(name: str, src: str, cout: int, k: int, head: bool = False) -> str:
        in_exp, in_bits, in_signed, cin = info[src]
        amax = 2 ** (in_bits - 1) if in_signed else 2 ** in_bits - 1
        wmax = 2 ** (weight_bits - 1) - 1
        w = rng.integers(-wmax, wmax + 1, size=(cout, cin, k, k))
        out_bits, out_signed = (OUTPUT_BITS, True) if head else (act_bits, False)
        span = 2 ** out_bits
        # |acc| ~ sqrt(fan-in) * E|x| * E|w|: shift so that it covers about a quarter of the range
        spread = np.sqrt(cin * k * k) * amax / 2 * max(wmax, 1) / 1.7
        rshift = max(0, int(round(np.log2(max(spread / (span / 4), 1.0)))))
        b = rng.integers(-(2 ** rshift) * span // 4, (2 ** rshift) * span // 4 + 1, size=cout)
        out_exp = ACT_EXP
        w_exp = out_exp - in_exp - rshift  # intref's right shift: out_exp - in_exp - w_exp
        lo_in = -amax if in_signed else 0
        bound = int((np.abs(w).reshape(cout, -1).sum(axis=1) * max(abs(lo_in), amax)
                     + np.abs(b)).max())
        return add(IntLayer(name=name, op="conv", inputs=[src], output=name, out_exp=out_exp,
                            out_bits=out_bits, out_signed=out_signed, channels=cout,
                            in_exp=in_exp, weight_exp=w_exp, weight_bits=weight_bits, kernel=k,
                            padding=k // 2, relu=not head, shift=rshift, acc_bound=bound,
                            acc_bits=bound.bit_length() + 1, weight=w.astype(np.int8),
                            bias=b.astype(np.int32)))

    cur = add(IntLayer(name="input", op="quantize", inputs=["x"], output="input",
                       out_exp=INPUT_EXP, out_bits=INPUT_BITS, out_signed=True,
                       channels=in_channels))
    levels = len(widths) - 1
    for i in range(levels):
        cur = conv(f"enc{i}", cur, widths[i], 3)
        cur = same(f"pool{i}", "maxpool", [cur])
    cur = conv("bottleneck", cur, widths[-1], 3)
    for i in reversed(range(levels)):
        cur = same(f"up{i}", "upsample", [cur])
        if skips:
            cur = same(f"cat{i}", "concat", [cur, f"enc{i}"])
        cur = conv(f"dec{i}", cur, widths[i], 3)
    conv("head", cur, classes, 1, head=True)
    name = f"random_w{weight_bits}a{act_bits}{'' if skips else '_noskip'}"
    facts = {"name": name, "in_channels": in_channels, "widths": list(widths),
             "charts": ["SOD"], "num_classes": [classes], "skips": skips,
             "stride": 2 ** levels,
             "bit_widths": {"input": INPUT_BITS, "weight": weight_bits, "activation": act_bits,
                            "output": OUTPUT_BITS}}
    return IntModel(layers=layers, model=facts)
