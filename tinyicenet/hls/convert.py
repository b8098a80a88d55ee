"""hls4ml config derived from the quantizers, and the (quiet) conversion of a prepared graph.

The config is hls4ml's own (``config_from_onnx_model``, granularity ``name``) with:
- the model input precision equal to the input quantizer (``fixed<8, 8+e, RND_CONV, SAT>``): the
  C simulation and the IP receive values of exactly that type, so the input Quant is an identity;
  hls4ml's default ``fixed<16,6>`` would round the input differently (1.6 % argmax disagreement);
- per conv, Strategy and ReuseFactor from the plan (hls/layers.yml + planner);
- per conv, the exact accumulator of :mod:`tinyicenet.hls.quant_formats` as ``accum`` and
  ``result`` precision instead of the 33-bit type inferred from the 32-bit bias quantizer.
Everything else (weights, biases, activations) is inferred by hls4ml from the QONNX Quant nodes.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from dataclasses import dataclass

from qonnx.core.modelwrapper import ModelWrapper

from tinyicenet.errors import ExportError
from tinyicenet.export.qgraph import input_format
from tinyicenet.hls.board import Board
from tinyicenet.hls.quant_formats import ConvFormats

BACKEND = "Vitis"
PROJECT_NAME = "tinyicenet"
DEFAULT_PRECISION = "fixed<16,6>"


@dataclass(frozen=True)
class ConvSetting:
    """Strategy and reuse factor asked for one conv (hls4ml may move the reuse factor)."""

    strategy: str
    reuse_factor: int


def hls_config(prepared: ModelWrapper, formats: list[ConvFormats],
               settings: dict[str, ConvSetting], *, input_precision: str | None = None,
               narrow_accumulators: bool = True) -> dict:
    """The hls4ml config of ``prepared`` (see module doc). ``settings``: conv name -> setting."""
    import hls4ml

    with contextlib.redirect_stdout(io.StringIO()):  # hls4ml prints every layer
        config = hls4ml.utils.config_from_onnx_model(prepared.model, granularity="name",
                                                     backend=BACKEND,
                                                     default_precision=DEFAULT_PRECISION)
    names = config["LayerName"]
    iname = prepared.graph.input[0].name
    if iname not in names:
        raise ExportError(f"hls4ml config has no entry for the graph input {iname}")
    names[iname]["Precision"]["result"] = input_precision or input_format(prepared).hls_type()
    for conv in formats:
        entry = names.get(conv.name)
        if entry is None:
            raise ExportError(f"hls4ml config has no entry for conv {conv.name}")
        setting = settings.get(conv.name)
        if setting is not None:
            entry["Strategy"] = setting.strategy.capitalize()
            entry["ReuseFactor"] = int(setting.reuse_factor)
        if narrow_accumulators:
            entry.setdefault("Precision", {})
            entry["Precision"]["accum"] = conv.accumulator_type()
            entry["Precision"]["result"] = conv.accumulator_type()
    config["Model"]["Strategy"] = "Resource"
    return config


def convert(prepared: ModelWrapper, config: dict, board: Board,
            output_dir: str | os.PathLike[str], project_name: str = PROJECT_NAME):
    """Convert with hls4ml (io_stream, the board's part and clock); its chatter is captured."""
    import hls4ml

    from tinyicenet.hls.patches import apply_hls4ml_patches

    apply_hls4ml_patches()
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log), warnings.catch_warnings():
            # hls4ml notes that it re-cases the strategy we pass ("resource" -> "Resource")
            warnings.filterwarnings("ignore", message=r"Overriding attribute 'strategy' of layer",
                                    category=UserWarning)
            return hls4ml.converters.convert_from_onnx_model(
                prepared.model, output_dir=str(output_dir), project_name=project_name,
                io_type="io_stream", backend=BACKEND, part=board.part,
                clock_period=board.clock_period_ns, hls_config=config)
    except Exception as exc:  # hls4ml raises bare Exceptions for unsupported graphs
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"hls4ml cannot convert the graph: {first}") from None


def effective_reuse(hls_model) -> dict[str, int]:
    """Conv name (ONNX) -> the ReuseFactor hls4ml actually uses (it moves invalid ones)."""
    out = {}
    for layer in hls_model.get_layers():
        if layer.class_name in ("Conv2D", "PointwiseConv2D"):
            out[layer.name] = int(layer.get_attr("reuse_factor"))
    return out
