"""From a sweep configuration to the model the trainer builds: the one place that knows how a
mapping group -> bits becomes a TinyIceNet precision (:class:`tinyicenet.models.Precision`).

A :class:`Grouping` maps each group of the space onto quantizers of the model (``weights.<conv>``
or ``acts.<ReLU quantizer>``, see :mod:`tinyicenet.models.precision`); the input and the head's
output quantizer stay at 8 bits. Groupings (:data:`GROUPINGS`):

* ``uniform``: ``weight`` (every conv) and ``activation`` (every ReLU quantizer): the
  ``tinyicenet_w{W}a{A}`` models, W and A chosen independently;
* ``blocks``: ``w_encoder`` (encoder convs and bottleneck), ``w_decoder``, ``w_head``, and the
  activations: with skips ``a_skip`` (the shared quantizers of the concatenations) and ``a_dec0``
  (the last decoder conv, which feeds the head); without skips ``a_encoder`` and ``a_decoder``;
* ``layers``: one group per quantizer (``w_<conv>``, ``a_<group>``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tinyicenet.errors import ConfigError
from tinyicenet.sweep.space import Configuration, Space

GROUPINGS = ("uniform", "blocks", "layers")
IO_BITS = 8


@dataclass(frozen=True)
class Grouping:
    """How the space's groups map onto the model's quantizers."""

    name: str
    #: group -> [("weights" | "acts", quantizer name), ...]
    members: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
    levels: int
    skips: bool

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(g for g, _ in self.members)

    def space(self, bits: Sequence[int], skips: bool | None = None) -> Space:
        if skips is not None and skips != self.skips:
            raise ConfigError("sweep: the grouping and the space differ in skips")
        return Space.of({g: bits for g in self.groups}, self.skips)

    def precision(self, config: Configuration) -> Any:
        """The model's :class:`~tinyicenet.models.Precision` for ``config``."""
        from tinyicenet.models import Precision

        bits = config.as_dict()
        spec: dict[str, Any] = {"input": IO_BITS, "output": IO_BITS, "weights": {}, "acts": {}}
        for group, members in self.members:
            for kind, name in members:
                spec[kind][name] = bits[group]
        return Precision.from_dict(spec, self.levels, self.skips)

    def uniform(self, config: Configuration) -> tuple[int, int] | None:
        return self.precision(config).uniform_bits()

    def model_name(self, config: Configuration) -> str:
        uni = self.uniform(config)
        base = f"tinyicenet_w{uni[0]}a{uni[1]}" if uni else "tinyicenet_mixed"
        return base + ("" if self.skips else "_noskip")

    def precision_label(self, config: Configuration) -> str:
        """``w4a4`` for a uniform model, else the precision's per-quantizer label."""
        return self.precision(config).label()

    def train_overrides(self, config: Configuration) -> list[str]:
        """Dotted overrides of the training config for ``config``'s model (a mixed one carries
        its whole precision in ``model.precision``)."""
        out = [f"model.name={self.model_name(config)}"]
        if self.uniform(config) is None:
            out.append(f"model.precision={json.dumps(self.precision(config).to_dict())}")
        return out

    def twin(self, float_model: Any, config: Configuration) -> Any:
        """The quantized twin of ``float_model`` at ``config`` (float weights, for costing
        before training)."""
        from tinyicenet.models import quantize_from_float

        return quantize_from_float(float_model, "tinyicenet",
                                   precision=self.precision(config).to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {"grouping": self.name, "members": {g: [f"{k}.{n}" for k, n in m]
                                                   for g, m in self.members},
                "input_bits": IO_BITS, "output_bits": IO_BITS}


def grouping(name: str, *, levels: int = 2, skips: bool = True) -> Grouping:
    """The grouping called ``name`` (see :data:`GROUPINGS`) for a model of ``levels`` encoder
    levels, with or without skips."""
    from tinyicenet.models import act_groups, conv_names

    convs = conv_names(levels)
    acts = list(act_groups(levels, skips))
    w = lambda names: tuple(("weights", n) for n in names)   # noqa: E731
    a = lambda names: tuple(("acts", n) for n in names)      # noqa: E731
    if name == "uniform":
        members = {"weight": w(convs), "activation": a(acts)}
    elif name == "blocks":
        enc = [c for c in convs if c.startswith("enc")] + ["bottleneck"]
        dec = [c for c in convs if c.startswith("dec")]
        members = {"w_encoder": w(enc), "w_decoder": w(dec), "w_head": w(["head"])}
        if skips:
            members.update(a_skip=a([g for g in acts if g.startswith("skip")]),
                           a_dec0=a(["dec0"]))
        else:
            members.update(a_encoder=a([g for g in acts if g in enc]),
                           a_decoder=a([g for g in acts if g.startswith("dec")]))
    elif name == "layers":
        members = {**{f"w_{c}": w([c]) for c in convs}, **{f"a_{g}": a([g]) for g in acts}}
    else:
        raise ConfigError(f"sweep grouping {name!r} unknown (known: {', '.join(GROUPINGS)})")
    return Grouping(name, tuple(sorted(members.items())), levels, skips)
