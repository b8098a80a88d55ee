"""TinyIceNet float model, its Brevitas quantized twin, checkpoints and summaries.

Public API::

    create_model(name, *, in_channels=2, widths=(16, 32, 64), charts=("SOD",), skips=None)
    available_models() -> list[str]
    parse_name(name) -> (weight_bits | None, act_bits | None, skips)
    quantize_from_float(float_model, name) -> quantized twin with the float weights (for QAT)
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
from tinyicenet.models.registry import (available_models, count_parameters, create_model,
                                        parse_name, quantize_from_float)
from tinyicenet.models.summary import summarize
from tinyicenet.models.tinyicenet import CHART_CLASSES, GraphNode, TinyIceNet

__all__ = [
    "CHART_CLASSES", "GraphNode", "MissingDependencyError", "TinyIceNet", "available_models",
    "brevitas_available", "calibrate", "count_parameters",
    "create_model", "load_checkpoint", "parse_name", "quantize_from_float", "read_checkpoint",
    "save_checkpoint", "summarize",
]
