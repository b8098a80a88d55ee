"""Per-layer precision of the quantized TinyIceNet: the bit width of every quantizer.

A :class:`Precision` names the bits of each *quantizer*, not of each layer, because that is what
the model has (see :mod:`tinyicenet.models.tinyicenet`):

* ``input``: the signed input quantizer; ``output``: the head's signed logit quantizer;
* ``weights``: one entry per conv, ``enc0 .. enc{L-1}``, ``bottleneck``, ``dec{L-1} .. dec0``,
  ``head`` (``L = len(widths) - 1`` encoder levels);
* ``acts``: one entry per unsigned ReLU quantizer. Without skips every conv but the head has its
  own: ``enc{i}``, ``bottleneck``, ``dec{i}``. With skips the ReLU producing skip ``i`` is the
  same module as the ReLU whose output is upsampled into level ``i`` (one quantizer per
  concatenation), so the groups are ``skip{i}`` (the outputs of ``enc{i}`` and of
  ``dec{i+1}``, or of the bottleneck for the deepest level) and ``dec0`` (the last decoder conv,
  which feeds the head). :func:`act_groups` lists which convs each group quantizes.

Its plain-data form (``to_dict``, stored in ``model.config["precision"]`` and so in checkpoints)::

    {"input": 8, "output": 8,
     "weights": {"enc0": 4, "enc1": 4, "bottleneck": 4, "dec1": 4, "dec0": 4, "head": 8},
     "acts": {"skip0": 4, "skip1": 4, "dec0": 4}}

The uniform ``tinyicenet_w{W}a{A}`` models are ``Precision.uniform(W, A, levels, skips)``: every
weight W bits, every activation A bits, input and output 8 bits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from tinyicenet.errors import ConfigError
from tinyicenet.models.bits import INPUT_BITS, MAX_BITS, MIN_BITS, OUTPUT_BITS

_KEYS = ("input", "output", "weights", "acts")


def conv_names(levels: int) -> list[str]:
    """The conv (weight group) names of a model with ``levels`` encoder levels, in graph order."""
    return ([f"enc{i}" for i in range(levels)] + ["bottleneck"]
            + [f"dec{i}" for i in reversed(range(levels))] + ["head"])


def act_groups(levels: int, skips: bool) -> dict[str, list[str]]:
    """Activation quantizer name -> the convs whose ReLU output it quantizes (graph order)."""
    if not skips:
        return {c: [c] for c in conv_names(levels)[:-1]}
    groups = {f"skip{i}": [f"enc{i}", "bottleneck" if i == levels - 1 else f"dec{i + 1}"]
              for i in range(levels)}
    groups["dec0"] = ["dec0"]
    return groups


def act_group_of(levels: int, skips: bool) -> dict[str, str]:
    """Conv name -> its activation quantizer group (the head has none: it uses ``output``)."""
    return {conv: group for group, convs in act_groups(levels, skips).items() for conv in convs}


def _bits(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_BITS <= value <= MAX_BITS:
        raise ConfigError(f"precision: {what} bit width {value!r} is not supported: use an "
                          f"integer in {MIN_BITS}..{MAX_BITS}")
    return value


def _group_map(given: Any, names: list[str], what: str, hint: str) -> dict[str, int]:
    if not isinstance(given, Mapping):
        raise ConfigError(f"precision: {what} must be a mapping group -> bits ({hint})")
    unknown = [k for k in given if k not in names]
    if unknown:
        raise ConfigError(f"precision: unknown {what} group(s) {', '.join(map(str, unknown))}; "
                          f"this model's are {', '.join(names)} ({hint})")
    return {k: _bits(given[k], f"{what} {k}") for k in names if k in given}


@dataclass(frozen=True, eq=False)
class Precision:
    """Bits of every quantizer of one TinyIceNet (see the module doc). Build with
    :meth:`uniform` / :meth:`from_dict`, change with :meth:`replace`; compare with ``==``."""

    input: int
    output: int
    weights: Mapping[str, int]
    acts: Mapping[str, int]
    levels: int
    skips: bool

    def __post_init__(self) -> None:  # read-only views: a Precision is hashable, so immutable
        object.__setattr__(self, "weights", MappingProxyType(dict(self.weights)))
        object.__setattr__(self, "acts", MappingProxyType(dict(self.acts)))

    # ---- construction ------------------------------------------------------------------------
    @classmethod
    def uniform(cls, weight_bits: int, act_bits: int, levels: int = 2, skips: bool = True, *,
                input_bits: int = INPUT_BITS, output_bits: int = OUTPUT_BITS) -> "Precision":
        """Every weight ``weight_bits``, every activation ``act_bits`` (the w{W}a{A} models)."""
        w, a = _bits(weight_bits, "weight"), _bits(act_bits, "activation")
        return cls(_bits(input_bits, "input"), _bits(output_bits, "output"),
                   {c: w for c in conv_names(levels)},
                   {g: a for g in act_groups(levels, skips)}, int(levels), bool(skips))

    @classmethod
    def from_dict(cls, data: Any, levels: int, skips: bool) -> "Precision":
        """The complete plain-data form (``to_dict``) -> Precision; anything missing or unknown
        is one ConfigError naming it."""
        return cls.overlay(None, data, levels, skips)

    @classmethod
    def overlay(cls, base: "Precision | None", changes: Any, levels: int,
                skips: bool) -> "Precision":
        """``base`` with the entries of ``changes`` (any subset of the plain-data form) replaced;
        without ``base`` the changes must name every quantizer."""
        if isinstance(changes, Precision):
            changes = changes.to_dict()
        if not isinstance(changes, Mapping):
            raise ConfigError("precision must be a mapping with keys input, output, weights, "
                              f"acts, not {type(changes).__name__}")
        unknown = [k for k in changes if k not in _KEYS]
        if unknown:
            raise ConfigError(f"precision: unknown key(s) {', '.join(map(str, unknown))}; "
                              f"valid: {', '.join(_KEYS)}")
        convs, groups = conv_names(levels), list(act_groups(levels, skips))
        hint = ("with skips one quantizer per concatenation: skip{i} = outputs of enc{i} and of "
                "the layer upsampled into level i" if skips else "one per conv")
        weights = _group_map(changes.get("weights", {}), convs, "weights", "one per conv")
        acts = _group_map(changes.get("acts", {}), groups, "acts", hint)
        scal = {k: _bits(changes[k], k) for k in ("input", "output") if k in changes}
        if base is not None:
            if (base.levels, base.skips) != (levels, skips):
                raise ConfigError("precision: the base precision is for another architecture")
            weights, acts = {**base.weights, **weights}, {**base.acts, **acts}
            scal = {"input": base.input, "output": base.output, **scal}
        missing = ([k for k in ("input", "output") if k not in scal]
                   + [f"weights.{c}" for c in convs if c not in weights]
                   + [f"acts.{g}" for g in groups if g not in acts])
        if missing:
            raise ConfigError(f"precision: missing bit width(s) for {', '.join(missing)} "
                              "(give weight_bits and act_bits for the rest, or every entry)")
        return cls(scal["input"], scal["output"], {c: weights[c] for c in convs},
                   {g: acts[g] for g in groups}, int(levels), bool(skips))

    def replace(self, **changes: Any) -> "Precision":
        """A copy with some entries changed, e.g. ``p.replace(weights={"head": 8}, input=8)``."""
        return Precision.overlay(self, changes, self.levels, self.skips)

    # ---- facts ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The plain-data form (JSON and ``torch.load(weights_only=True)`` safe)."""
        return {"input": self.input, "output": self.output, "weights": dict(self.weights),
                "acts": dict(self.acts)}

    def uniform_bits(self) -> tuple[int, int] | None:
        """``(W, A)`` when this is the ``tinyicenet_w{W}a{A}`` precision, else None."""
        ws, acts = set(self.weights.values()), set(self.acts.values())
        if (len(ws) == 1 and len(acts) == 1 and self.input == INPUT_BITS
                and self.output == OUTPUT_BITS):
            return ws.pop(), acts.pop()
        return None

    @property
    def is_uniform(self) -> bool:
        return self.uniform_bits() is not None

    def weight_bits(self, conv: str) -> int:
        return self.weights[conv]

    def act_bits(self, conv: str) -> int:
        """Bits of the tensor ``conv`` writes (its ReLU group, or ``output`` for the head)."""
        if conv == "head":
            return self.output
        return self.acts[act_group_of(self.levels, self.skips)[conv]]

    def label(self) -> str:
        """``w4a4`` for a uniform precision; otherwise ``i8-w444448-a444-o8``: the input bits,
        the weight bits in graph order (:func:`conv_names`), the activation groups' bits in
        :func:`act_groups` order and the output bits."""
        uni = self.uniform_bits()
        if uni is not None:
            return f"w{uni[0]}a{uni[1]}"
        return (f"i{self.input}-w{''.join(map(str, self.weights.values()))}"
                f"-a{''.join(map(str, self.acts.values()))}-o{self.output}")

    def bit_widths(self) -> dict[str, Any]:
        """``model.bit_widths``: ``{input, weight, activation, output}`` as before for a uniform
        precision; a mixed one adds ``label``, ``weights`` and ``acts`` and gives the widest
        weight and activation under ``weight`` / ``activation``."""
        out: dict[str, Any] = {"input": self.input, "weight": max(self.weights.values()),
                               "activation": max(self.acts.values()), "output": self.output}
        if not self.is_uniform:
            out.update(label=self.label(), weights=dict(self.weights), acts=dict(self.acts))
        return out

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Precision) and self.to_dict() == other.to_dict()
                and (self.levels, self.skips) == (other.levels, other.skips))

    def __hash__(self) -> int:
        return hash((self.label(), self.levels, self.skips))


def precision_label(bit_widths: Mapping[str, Any] | None) -> str:
    """The label of a ``bit_widths`` record (model, intref, manifest): ``w4a4``, a mixed
    :meth:`Precision.label`, or ``fp32`` for None (``w?a?`` for a record without bits)."""
    if bit_widths is None:
        return "fp32"
    if bit_widths.get("label"):
        return str(bit_widths["label"])
    return f"w{bit_widths.get('weight', '?')}a{bit_widths.get('activation', '?')}"
