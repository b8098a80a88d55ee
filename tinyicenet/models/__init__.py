"""TinyIceNet float model, its Brevitas quantized twin, checkpoints and summaries.

Public API::

    create_model(name="tinyicenet", *, weight_bits=None, act_bits=None, precision=None,
                 skips=None, in_channels=2, widths=(16, 32, 64), charts=("SOD",))
    available_models() -> list[str]
    parse_model_name(name) -> ModelName (the one model-name parser); is_model_name(name)
    parse_name(name) -> (weight_bits | None, act_bits | None, skips)
    Precision, conv_names, act_groups, precision_label: per-layer bits (models.precision)
    quantize_from_float(float_model, name, *, weight_bits, act_bits, precision) -> quantized
        twin with the float weights (for QAT)
    calibrate(model, batches) -> model with activation radix points set from data
    save_checkpoint(path, model, **extra) / load_checkpoint(path) -> (model, dict)
    summarize(model, tile=256) -> ModelSummary (params, MACs, memory per layer)
    model.graph() -> [GraphNode]; model.split(logits) -> {chart: logits}
    CHART_CLASSES, TinyIceNet
    brevitas_available() -> bool; MissingDependencyError

Importing this package and using the float model need only torch; Brevitas is imported when a
quantized model is built or a quantized checkpoint loaded (MissingDependencyError, one line
naming the package, where it is missing).
"""

from tinyicenet.models.calibrate import calibrate
from tinyicenet.models.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from tinyicenet.models.deps import MissingDependencyError, brevitas_available
from tinyicenet.models.precision import Precision, act_groups, conv_names, precision_label
from tinyicenet.models.registry import (ModelName, available_models, count_parameters,
                                        create_model, is_model_name, parse_model_name,
                                        parse_name, quantize_from_float)
from tinyicenet.models.summary import summarize
from tinyicenet.models.tinyicenet import CHART_CLASSES, GraphNode, TinyIceNet

__all__ = [
    "CHART_CLASSES", "GraphNode", "MissingDependencyError", "ModelName", "Precision",
    "TinyIceNet", "act_groups", "available_models", "brevitas_available", "calibrate",
    "conv_names", "count_parameters", "create_model", "is_model_name", "load_checkpoint",
    "parse_model_name", "parse_name", "precision_label", "quantize_from_float",
    "read_checkpoint", "save_checkpoint", "summarize",
]
