"""Checkpoints: one self-describing file per model (architecture + weights + training extras).

Format (a dict saved with ``torch.save``)::

    format: "tinyicenet-checkpoint", version: 1,
    model: {name, kwargs}, state_dict, and any extras (epoch, optimizer, config, data_stats,
    variables, metrics, ...)

``kwargs`` are :func:`create_model`'s keywords; a per-layer (``tinyicenet_mixed``) model adds
``precision`` (the plain-data :class:`~tinyicenet.models.precision.Precision`), uniform models
store none, so checkpoints written before per-layer precision load unchanged.

Loading uses ``torch.load(weights_only=True)``: extras must be tensors, numbers, strings,
lists, tuples or dicts of those (an optimizer state_dict is). Every problem is a
:class:`~tinyicenet.errors.CheckpointError` naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import torch

from tinyicenet.atomic import atomic_path
from tinyicenet.errors import CheckpointError, ConfigError
from tinyicenet.models.deps import MissingDependencyError
from tinyicenet.models.registry import create_from_config
from tinyicenet.models.tinyicenet import TinyIceNet

FORMAT = "tinyicenet-checkpoint"
VERSION = 1
_RESERVED = ("format", "version", "model", "state_dict")


def save_checkpoint(path: str | os.PathLike[str], model: TinyIceNet, **extra: Any) -> Path:
    """Atomically write ``model`` (name, kwargs, state_dict) and ``extra`` keys to ``path``."""
    clash = [k for k in extra if k in _RESERVED]
    if clash:
        raise CheckpointError(f"{path}: extra key(s) {clash} are reserved by the checkpoint format")
    name = getattr(model, "name", "")
    if not name or not hasattr(model, "config"):
        raise CheckpointError(f"{path}: the model was not built by create_model (no name/config)")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if getattr(model, "quantized", False) and not any(k.endswith("scaling_impl.value")
                                                      for k in state):
        # Brevitas creates the learned scales only when it first sees data: such a checkpoint
        # could never be loaded back.
        raise CheckpointError(f"{path}: quantized model {name!r} has no activation scales yet; "
                              "calibrate it (tinyicenet.models.calibrate) or train it first")
    payload = {"format": FORMAT, "version": VERSION,
               "model": {"name": name, "kwargs": dict(model.config)},
               "state_dict": state, **extra}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load and validate the checkpoint dict without building the model."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint file not found")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - the unpickler raises anything on garbage bytes
        text = str(exc)
        if "Unsupported global" in text or "Unsupported class" in text:
            raise CheckpointError(f"{p}: refused: it holds Python objects other than tensors and "
                                  "plain data (loaded with weights_only=True)") from None
        reason = text.strip().splitlines()[0][:200] if text.strip() else type(exc).__name__
        raise CheckpointError(f"{p}: not a readable checkpoint (corrupt or truncated?): "
                              f"{reason}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{p}: not a tinyicenet checkpoint (format is not {FORMAT!r})")
    if ckpt.get("version") != VERSION:
        raise CheckpointError(f"{p}: checkpoint version {ckpt.get('version')!r} is not "
                              f"supported (this tinyicenet reads version {VERSION})")
    spec = ckpt.get("model")
    if (not isinstance(spec, dict) or not isinstance(spec.get("name"), str)
            or not isinstance(spec.get("kwargs", {}), dict)
            or not isinstance(ckpt.get("state_dict"), dict)):
        raise CheckpointError(f"{p}: checkpoint lacks a valid 'model' or 'state_dict' entry")
    return ckpt


def load_checkpoint(path: str | os.PathLike[str], *, expect: str | None = None,
                    map_location: str | torch.device = "cpu") -> tuple[TinyIceNet, dict[str, Any]]:
    """Rebuild the model saved at ``path``; return ``(model, checkpoint_dict)``.

    ``expect``: a model name the checkpoint must hold (CheckpointError otherwise). The model is
    returned in eval mode on ``map_location``. A quantized checkpoint needs Brevitas
    (MissingDependencyError naming the file and the package otherwise); a float one does not.
    """
    p = Path(path)
    ckpt = read_checkpoint(p)
    name, kwargs = ckpt["model"]["name"], dict(ckpt["model"].get("kwargs", {}))
    if expect is not None and name != expect:
        raise CheckpointError(f"{p}: checkpoint holds model {name!r}, expected {expect!r}")
    try:
        model = create_from_config(name, kwargs)
    except ConfigError as exc:
        raise CheckpointError(f"{p}: cannot rebuild the model: {exc}") from None
    except MissingDependencyError as exc:  # a quantized checkpoint where Brevitas is missing
        raise MissingDependencyError(f"{p}: {exc}", name=exc.name) from None
    try:
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(s.strip() for s in first[:3])[:300]
        raise CheckpointError(f"{p}: weights do not fit model {name!r} {kwargs} (another "
                              f"architecture?): {detail}") from None
    return model.to(map_location).eval(), ckpt


def load_quantized_checkpoint(path: str | os.PathLike[str]) -> tuple[TinyIceNet, dict[str, Any]]:
    """:func:`load_checkpoint`, refusing a float model (the FPGA flows need a quantized one)."""
    model, ckpt = load_checkpoint(path)
    if not getattr(model, "quantized", False):
        raise CheckpointError(f"{path}: model {model.name!r} is a float model; the FPGA "
                              "flows need a quantized one (tinyicenet_w{W}a{A})")
    return model, ckpt


def normalisation_record(variables: Sequence[str]) -> dict[str, Any]:
    """The z-score statistics load_scene applies to physical inputs, per variable with its
    scaling decision, as training stores them in ``data_stats["normalisation"]``; serving reads
    them back with :func:`input_statistics`."""
    from tinyicenet.data import normalisation_stats

    stats = normalisation_stats()
    return {"method": "z-score, global statistics (data/ai4arctic/statistics.json)",
            "variables": {v: {"mean": stats[v][0], "std": stats[v][1], "scaling": "z-score"}
                          for v in variables if v in stats}}


def input_statistics(ckpt: dict[str, Any], *, path: str | os.PathLike[str] | None = None
                     ) -> dict[str, tuple[float, float]] | None:
    """The z-score statistics training applied, per input variable, from a checkpoint dict
    (``data_stats.normalisation.variables``: ``{var: {mean, std, scaling}}``); None when the
    checkpoint predates stored statistics. Every serving path (predict, evaluate, bench, board)
    normalises with these, so recomputing ``data/ai4arctic/statistics.json`` after training
    does not change a prediction."""
    facts = ckpt.get("data_stats") if isinstance(ckpt.get("data_stats"), dict) else {}
    norm = facts.get("normalisation") if isinstance(facts.get("normalisation"), dict) else {}
    per_var = norm.get("variables") if isinstance(norm.get("variables"), dict) else None
    if not per_var:
        return None
    out: dict[str, tuple[float, float]] = {}
    for var, entry in per_var.items():
        try:
            mean, std = float(entry["mean"]), float(entry["std"])
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{path or 'checkpoint'}: statistics of {var} are not "
                                  "{mean, std} numbers") from None
        scaling = entry.get("scaling", "z-score")
        if scaling != "z-score":
            raise CheckpointError(f"{path or 'checkpoint'}: unknown scaling {scaling!r} for {var}")
        if not std > 0:
            raise CheckpointError(f"{path or 'checkpoint'}: std of {var} must be > 0, got {std}")
        out[str(var)] = (mean, std)
    variables = ckpt.get("variables")
    if isinstance(variables, (list, tuple)):
        missing = [v for v in variables if v not in out]
        if missing:
            raise CheckpointError(f"{path or 'checkpoint'}: no statistics stored for input(s) "
                                  f"{', '.join(missing)}")
    return out


def checkpoint_statistics(path: str | os.PathLike[str] | None
                          ) -> dict[str, tuple[float, float]] | None:
    """:func:`input_statistics` of the checkpoint file at ``path``; None for anything that is
    not a tinyicenet checkpoint file (a model name, an ONNX file) or has none stored."""
    if path is None or not Path(path).is_file():
        return None
    try:
        ckpt = read_checkpoint(path)
    except CheckpointError:
        return None
    return input_statistics(ckpt, path=path)
