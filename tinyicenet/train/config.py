"""Training configuration: typed dataclasses, YAML loading, validation, dotted overrides.

A configuration is a YAML mapping of sections (``data``, ``model``, ``train``, ``optim``,
``augment``, ``eval``) plus ``seed``. Every key is declared here with its type; an unknown key or
a value of the wrong type or range raises :class:`~tinyicenet.errors.ConfigError` naming the key
(and, for unknown keys, the valid ones). Command-line overrides use dotted keys:
``--set optim.lr=1e-3 --set data.patch=64``; values are parsed as YAML and then coerced to the
declared type, so ``1e-3`` (a string to YAML 1.1) is still a float.

Packaged configs (``default``, ``demo``, ``accuracy``) live in :mod:`tinyicenet.configs`; a name
without a path separator or ``.yaml`` suffix refers to one of them.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from tinyicenet.data.tables import CHARTS
from tinyicenet.errors import ConfigError
from tinyicenet.models.registry import ModelName, parse_model_name
from tinyicenet.yamlfile import read_mapping



@dataclass
class DataConfig:
    """Which scenes, at which resolution, cut into which patches."""

    #: Training scene files or folders of ``*.nc`` (relative paths: to the working directory).
    train: list[str] = field(default_factory=list)
    #: Validation scenes (full-scene metrics each epoch). Empty: hold out ``val_count`` scenes.
    val: list[str] = field(default_factory=list)
    #: When ``val`` is empty, the last ``val_count`` training scenes (sorted by name) validate.
    val_count: int = 0
    #: Working resolution: 5 -> 400 m from 80 m RTT files (tinyicenet.data.DEFAULT_DOWNSAMPLE).
    downsample: int = 5
    #: Input variables (channels), in order.
    variables: list[str] = field(
        default_factory=lambda: ["nersc_sar_primary", "nersc_sar_secondary"])
    #: Patch side in working pixels; a multiple of the model stride.
    patch: int = 64
    #: A patch with a smaller fraction of labelled pixels is redrawn (starter kit: > 1 pixel).
    min_labelled: float = 0.1


@dataclass
class ModelConfig:
    """The model to deliver; QAT models are fine-tuned from their float twin."""

    #: ``tinyicenet_float``, ``tinyicenet_w{W}a{A}`` or ``tinyicenet_mixed`` (with ``precision``),
    #: optional ``_noskip`` suffix.
    name: str = "tinyicenet_w4a4"
    #: Per-layer bits (``tinyicenet.models.precision``: ``input``, ``output``, ``weights``,
    #: ``acts``), laid over the name's uniform bits; a ``tinyicenet_mixed`` model gives them all.
    precision: dict[str, Any] = field(default_factory=dict)
    widths: list[int] = field(default_factory=lambda: [16, 32, 64])
    #: Output charts (heads), in order; TinyIceNet predicts SOD only.
    charts: list[str] = field(default_factory=lambda: ["SOD"])
    #: Optional float checkpoint whose weights start training (e.g. QAT only, with
    #: ``train.float_epochs=0``, from a float model trained before). Empty: random init.
    init: str = ""


@dataclass
class TrainConfig:
    """Phases, batches and the loss."""

    #: Float pre-training epochs.
    float_epochs: int = 20
    #: QAT fine-tuning epochs (0 for a float model).
    qat_epochs: int = 10
    #: Patches per batch (per process under DDP).
    batch: int = 16
    steps_per_epoch: int = 100
    #: ``none``, ``balanced`` (N / (K n_c), from the training histogram) or ``sqrt`` (its root).
    class_weights: Literal["none", "balanced", "sqrt"] = "none"
    #: Torch intra-op threads on CPU; 0 keeps torch's default.
    threads: int = 0
    #: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: How QAT sets the activation scales from the float model: ``mse`` (Brevitas' 99.999th
    #: percentile, then the power of two with the least quantization error per quantizer, over
    #: all its call sites; tinyicenet.models.calibrate) or ``percentile`` alone, which zeroes
    #: most 2-bit activations (bench/w2a2_notes.md).
    calibration: Literal["percentile", "mse"] = "mse"
    #: Before QAT, bring the two branches sharing each skip quantizer to one range (a
    #: function-preserving power-of-two rescaling of the float weights). No effect without skips.
    equalize: bool = False


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule (one schedule per phase)."""

    name: Literal["adam", "adamw", "sgd"] = "adam"
    #: Learning rate of the float phase.
    lr: float = 3e-3
    #: Learning rate of the QAT phase (fine-tuning starts from trained weights).
    qat_lr: float = 5e-4
    weight_decay: float = 0.0
    momentum: float = 0.9
    #: ``cosine``: cosine decay to ``min_lr_ratio * lr`` over each phase; ``constant``.
    schedule: Literal["cosine", "constant"] = "cosine"
    min_lr_ratio: float = 0.05


@dataclass
class AugmentConfig:
    """Geometric augmentation: the dihedral group of the square (label-preserving for SAR)."""

    flips: bool = True
    rot90: bool = True


@dataclass
class EvalConfig:
    """Full-scene validation: tiles with a halo, stitched (tinyicenet.data.tiling)."""

    tile: int = 256
    #: Tile halo; None = the model's receptive radius rounded up to the stride (at least 16).
    #: A halo below the receptive radius is refused when validation runs.
    halo: int | None = None
    #: Validate every this many epochs (the last epoch of each phase always validates).
    every: int = 1


@dataclass
class Config:
    """A whole training configuration."""

    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    # derived facts --------------------------------------------------------------------------
    @property
    def is_quantized(self) -> bool:
        return not self.model.name.startswith("tinyicenet_float")

    @property
    def skips(self) -> bool:
        return not self.model.name.endswith("_noskip")

    @property
    def float_name(self) -> str:
        """The float twin of ``model.name`` (same skips)."""
        return "tinyicenet_float" + ("" if self.skips else "_noskip")

    @property
    def total_epochs(self) -> int:
        return self.train.float_epochs + (self.train.qat_epochs if self.is_quantized else 0)

    def phase_of(self, epoch: int) -> str:
        """``float`` or ``qat`` for a 0-based epoch index."""
        return "float" if epoch < self.train.float_epochs else "qat"

    def model_kwargs(self) -> dict[str, Any]:
        return {"in_channels": len(self.data.variables), "widths": tuple(self.model.widths),
                "charts": tuple(self.model.charts)}

    def to_dict(self) -> dict[str, Any]:
        """Plain Python containers (YAML/JSON/checkpoint friendly)."""
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# --------------------------------------------------------------------------------------------
# coercion and validation


def _fail_type(key: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"config key {key!r}: {value!r} is not {expected}")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert ``value`` to the declared type ``tp`` or raise ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"config key {key!r}: {value!r} is not one of "
                              f"{', '.join(map(str, choices))}")
        return value
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], key)
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail_type(key, value, "a mapping")
        return value
    if origin is list:
        (item,) = typing.get_args(tp)
        if isinstance(value, (str, int, float)) and item is str:
            value = [value]  # one path or name where a list is expected
        if not isinstance(value, (list, tuple)):
            raise _fail_type(key, value, "a list")
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off"):
            return value.lower() in ("true", "yes", "on")
        raise _fail_type(key, value, "true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise _fail_type(key, value, "an integer")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise _fail_type(key, value, "a number")
    if tp is str:
        if isinstance(value, str):
            return value
        raise _fail_type(key, value, "a string")
    raise TypeError(f"unsupported config type {tp!r} for {key}")  # a bug in this module


def _section_from_mapping(cls: type, mapping: Any, prefix: str) -> Any:
    if not isinstance(mapping, dict):
        raise ConfigError(f"config section {prefix[:-1] or 'root'!r} must be a mapping, "
                          f"got {type(mapping).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in mapping.items():
        full = f"{prefix}{key}"
        if key not in names:
            where = f"in {prefix[:-1]!r}" if prefix else "at the top level"
            raise ConfigError(f"config key {full!r} is unknown; valid keys {where}: "
                              f"{', '.join(names)}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _section_from_mapping(tp, value, f"{full}.")
        else:
            kwargs[key] = _coerce(value, tp, full)
    return cls(**kwargs)


def _require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"config key {key!r}: {message}")


def _validate_precision(m: ModelConfig, parsed: ModelName, skips: bool) -> None:
    """``model.precision`` must complete the name's bits (checked by models.precision)."""
    kind = parsed.kind
    if kind == "float":
        _require(not m.precision, "model.precision", "a float model has no precision: leave it "
                 "empty")
    if kind not in ("uniform", "mixed") or not (m.precision or kind == "mixed"):
        return
    from tinyicenet.models.precision import Precision
    levels = len(m.widths) - 1
    base = None if kind == "mixed" else Precision.uniform(parsed.weight_bits, parsed.act_bits,
                                                          levels, skips)
    try:
        Precision.overlay(base, m.precision, levels, skips)
    except ConfigError as e:
        _require(False, "model.precision", str(e))


def validate(cfg: Config) -> Config:
    """Check ranges and cross-field rules; return ``cfg`` or raise ConfigError."""
    d, m, t, o, e = cfg.data, cfg.model, cfg.train, cfg.optim, cfg.eval
    _require(cfg.seed >= 0, "seed", f"{cfg.seed} must be >= 0")
    _require(d.downsample >= 1, "data.downsample", f"{d.downsample} must be >= 1")
    _require(d.val_count >= 0, "data.val_count", f"{d.val_count} must be >= 0")
    _require(len(d.variables) >= 1, "data.variables", "needs at least one variable")
    _require(0.0 <= d.min_labelled <= 1.0, "data.min_labelled",
             f"{d.min_labelled} must be in [0, 1]")
    try:  # the one model-name parser; training builds float, uniform and mixed models
        parsed = parse_model_name(m.name)
    except ConfigError:
        parsed = None
    _require(parsed is not None and parsed.kind in ("float", "uniform", "mixed"), "model.name",
             f"unknown model {m.name!r}: use tinyicenet_float or tinyicenet_w{{W}}a{{A}} "
             "(2 <= W, A <= 8), optionally with _noskip")
    _validate_precision(m, parsed, cfg.skips)
    _require(len(m.widths) >= 1 and all(w >= 1 for w in m.widths), "model.widths",
             f"{m.widths} must be one or more positive channel counts")
    _require(len(m.charts) >= 1, "model.charts", "needs at least one chart")
    for c in m.charts:
        _require(c in CHARTS, "model.charts", f"{c!r} is not one of {', '.join(CHARTS)}")
    _require(len(set(m.charts)) == len(m.charts), "model.charts", f"{m.charts} has repeats")
    stride = 2 ** (len(m.widths) - 1)
    _require(d.patch >= stride and d.patch % stride == 0, "data.patch",
             f"{d.patch} must be a positive multiple of the model stride {stride}")
    _require(t.float_epochs >= 0, "train.float_epochs", f"{t.float_epochs} must be >= 0")
    _require(t.qat_epochs >= 0, "train.qat_epochs", f"{t.qat_epochs} must be >= 0")
    if not cfg.is_quantized:
        _require(t.qat_epochs == 0, "train.qat_epochs",
                 f"{m.name} is a float model and has no QAT phase: set train.qat_epochs=0")
    _require(cfg.total_epochs >= 1, "train.float_epochs", "there must be at least one epoch")
    _require(t.batch >= 1, "train.batch", f"{t.batch} must be >= 1")
    _require(t.steps_per_epoch >= 1, "train.steps_per_epoch",
             f"{t.steps_per_epoch} must be >= 1")
    _require(t.threads >= 0, "train.threads", f"{t.threads} must be >= 0")
    for key, lr in (("optim.lr", o.lr), ("optim.qat_lr", o.qat_lr)):
        _require(0.0 < lr < 10.0, key, f"{lr} must be in (0, 10)")
    _require(o.weight_decay >= 0.0, "optim.weight_decay", f"{o.weight_decay} must be >= 0")
    _require(0.0 <= o.momentum < 1.0, "optim.momentum", f"{o.momentum} must be in [0, 1)")
    _require(0.0 <= o.min_lr_ratio <= 1.0, "optim.min_lr_ratio",
             f"{o.min_lr_ratio} must be in [0, 1]")
    _require(e.tile >= stride and e.tile % stride == 0, "eval.tile",
             f"{e.tile} must be a positive multiple of the model stride {stride}")
    _require(e.halo is None or (0 <= e.halo < e.tile // 2 and e.halo % stride == 0),
             "eval.halo", f"{e.halo} must be a multiple of the model stride {stride} in "
             "[0, tile/2)")
    _require(e.every >= 1, "eval.every", f"{e.every} must be >= 1")
    return cfg


def config_from_dict(mapping: dict[str, Any] | None) -> Config:
    """Build and validate a Config from a (possibly partial) nested mapping."""
    return validate(_section_from_mapping(Config, mapping or {}, ""))


# --------------------------------------------------------------------------------------------
# files and overrides


def packaged_configs() -> dict[str, Path]:
    """Names -> files of the configs shipped in :mod:`tinyicenet.configs`."""
    folder = Path(__file__).resolve().parent.parent / "configs"
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A packaged config name (``demo``) or a YAML file path -> an existing file."""
    text = str(name_or_path)
    packaged = packaged_configs()
    if text in packaged:
        return packaged[text]
    path = Path(text)
    if not path.is_file():
        hint = f"; packaged configs: {', '.join(packaged)}" if packaged else ""
        raise ConfigError(f"config {text}: no such file or packaged config{hint}")
    return path


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"optim.lr=1e-3"`` -> (["optim", "lr"], 1e-3 as YAML reads it)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    key, raw = text.split("=", 1)
    parts = [p.strip() for p in key.strip().split(".")]
    if not all(parts):
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw  # an unquoted string YAML cannot parse is still a string
    return parts, value


def apply_overrides(mapping: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``mapping`` with each dotted ``key=value`` override set.

    Keys are checked against the schema when the result is built, so an unknown dotted key
    fails with the same message as in a file.
    """
    result = _deep_copy(mapping)
    for text in overrides:
        parts, value = parse_override(text)
        node = result
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return result


def _deep_copy(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in mapping.items()}


def load_config(name_or_path: str | Path | None = None,
                overrides: list[str] | tuple[str, ...] = (),
                base: dict[str, Any] | None = None) -> Config:
    """Load a packaged or file config (or ``base``, a mapping), apply overrides, validate.

    With neither ``name_or_path`` nor ``base`` the packaged ``default`` config is used.
    """
    if base is not None:
        mapping = _deep_copy(base)
    else:
        mapping = read_mapping(resolve_config_path(name_or_path or "default"), "config")
    return config_from_dict(apply_overrides(mapping, list(overrides)))
