"""From a sweep configuration to the model the trainer builds: the one place that knows how a
mapping group -> bits becomes a TinyIceNet.

A :class:`Grouping` names the space's groups and what each sets. ``uniform``: two groups,
``weight`` and ``activation``, i.e. the ``tinyicenet_w{W}a{A}`` models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tinyicenet.errors import ConfigError
from tinyicenet.sweep.space import Configuration, Space

GROUPINGS = ("uniform",)


@dataclass(frozen=True)
class Grouping:
    """How the space's groups map onto the model's quantizers."""

    name: str
    groups: tuple[str, ...]

    def space(self, bits: Sequence[int], skips: bool = True) -> Space:
        return Space.of({g: bits for g in self.groups}, skips)

    def model_name(self, config: Configuration) -> str:
        b = config.as_dict()
        return f"tinyicenet_w{b['weight']}a{b['activation']}" + ("" if config.skips
                                                                  else "_noskip")

    def precision_label(self, config: Configuration) -> str:
        """Short label: ``w4a4`` for a uniform model."""
        b = config.as_dict()
        return f"w{b['weight']}a{b['activation']}"

    def train_overrides(self, config: Configuration) -> list[str]:
        """Dotted overrides of the training config that make ``config``'s model."""
        return [f"model.name={self.model_name(config)}"]

    def twin(self, float_model: Any, config: Configuration) -> Any:
        """The quantized twin of ``float_model`` at ``config`` (float weights, for costing
        before training)."""
        from tinyicenet.models import quantize_from_float

        return quantize_from_float(float_model, self.model_name(config))


def grouping(name: str, *, levels: int = 2) -> Grouping:
    """The grouping called ``name`` (see :data:`GROUPINGS`)."""
    if name == "uniform":
        return Grouping("uniform", ("activation", "weight"))
    raise ConfigError(f"sweep grouping {name!r} unknown (known: {', '.join(GROUPINGS)})")
