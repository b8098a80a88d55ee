"""Export a TinyIceNet to ONNX: QONNX (the quantized graph) and a plain ONNX file for onnxruntime.

- ``export_qonnx``: Brevitas -> QONNX (``Quant`` nodes carry every fixed-point format), cleaned
  with qonnx, NCHW, batch 1, the tile size fixed. This is the input of the hls4ml flow and is
  executed by qonnx's executor for the exactness check.
- ``export_onnx``: a graph of standard ONNX ops that onnxruntime runs, with symbolic batch, height
  and width. For the float model it is torch's export; for a quantized model it is the QONNX graph
  with constant (weight/bias) quantizers folded and activation quantizers in QCDQ form
  (QuantizeLinear -> Clip -> DequantizeLinear). All scales are powers of two and every conv sum
  stays below 2**24 ulps, so fp32 evaluates it exactly - as long as onnxruntime does not fuse the
  Q/DQ pairs into its integer kernels (which round differently); the ORT backend therefore runs
  it with graph optimisations off.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx

from tinyicenet.atomic import atomic_path
from tinyicenet.errors import ExportError
from tinyicenet.models.deps import quiet_brevitas_import

OPSET = 18
SYMBOLIC_DIMS = ("N", None, "H", "W")  # NCHW: the channel count stays fixed


# What the exporters say that is known to be harmless here; silenced by message, so any other
# warning (a TracerWarning about the network's own data flow included) still shows.
_EXPORT_NOTICES: tuple[tuple[str, str, str], ...] = (
    # float_proto asks for the TorchScript exporter on purpose (dynamo=False)
    ("DeprecationWarning", r"You are using the legacy TorchScript-based ONNX export", ""),
    ("DeprecationWarning", r"The feature will be removed\. Please remove usage of this function",
     r"torch\.onnx"),
    # TinyIceNet.forward checks that H and W are multiples of the stride: the trace keeps the
    # passing branch, and the exported graph (symbolic H, W) does not need the check
    ("TracerWarning", r"Converting a tensor to a Python boolean might cause the trace to be "
     r"incorrect", r"tinyicenet\.models\.tinyicenet"),
)


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """Silence the torch exporter's progress prints and its known-harmless warnings."""
    import torch

    categories = {"DeprecationWarning": DeprecationWarning,
                  "TracerWarning": torch.jit.TracerWarning}
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            for category, message, module in _EXPORT_NOTICES:
                warnings.filterwarnings("ignore", message=message,
                                        category=categories[category], module=module)
            yield
    finally:
        logger.setLevel(level)


def _example_input(model, tile: int | tuple[int, int]):
    import torch

    h, w = (tile, tile) if isinstance(tile, int) else tile
    stride = int(getattr(model, "stride", 1))
    if h % stride or w % stride or h <= 0 or w <= 0:
        raise ExportError(f"tile {h}x{w} is not a positive multiple of the model stride {stride}")
    return torch.zeros(1, int(getattr(model, "in_channels", 2)), h, w)


def _check_quantized(model) -> None:
    if not getattr(model, "quantized", False):
        raise ExportError(f"model {getattr(model, 'name', '?')!r} is a float model: QONNX and the "
                          "FPGA flow need a quantized model (e.g. tinyicenet_w4a4)")


def qonnx_model(model, tile: int | tuple[int, int]):
    """Brevitas model -> cleaned QONNX :class:`ModelWrapper` (NCHW, batch 1, fixed tile)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    _check_quantized(model)
    with quiet_brevitas_import():
        from brevitas.export import export_qonnx as brevitas_export_qonnx
    x = _example_input(model, tile)
    model = model.cpu().eval()
    with _quiet_export():
        try:
            proto = brevitas_export_qonnx(model, x)
        except Exception as exc:  # torch.export errors are long; keep the first line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExportError(f"Brevitas -> QONNX export of {getattr(model, 'name', 'model')} "
                              f"failed: {first}") from None
    return cleanup_model(ModelWrapper(proto))


def export_qonnx(model, path: str | os.PathLike[str], tile: int | tuple[int, int]) -> Path:
    """Write the QONNX graph of ``model`` at ``tile`` to ``path`` (atomically)."""
    wrapper = qonnx_model(model, tile)
    with atomic_path(path) as tmp:
        wrapper.save(tmp)
    return Path(path)


def _make_dims_symbolic(proto: onnx.ModelProto) -> onnx.ModelProto:
    for value in list(proto.graph.input) + list(proto.graph.output):
        for dim, name in zip(value.type.tensor_type.shape.dim, SYMBOLIC_DIMS):
            if name is not None:
                dim.Clear()
                dim.dim_param = name
    del proto.graph.value_info[:]  # stale static shapes would contradict the symbolic ones
    return proto


def qcdq_proto(qonnx) -> onnx.ModelProto:
    """A QONNX :class:`ModelWrapper` -> standard-ONNX QCDQ ``ModelProto`` with symbolic N/H/W."""
    from qonnx.transformation.qonnx_to_qcdq import QuantToQCDQ
    from qonnx.util.cleanup import cleanup_model

    folded = cleanup_model(qonnx, preserve_qnt_ops=False)  # weight/bias Quant -> float constants
    qcdq = folded.transform(QuantToQCDQ())
    left = sorted({n.op_type for n in qcdq.graph.node if n.domain.startswith("qonnx")})
    if left:
        raise ExportError(f"QCDQ conversion left QONNX-only ops {left}; the quantizers must be "
                          "at most 8 bits on activations")
    proto = _make_dims_symbolic(qcdq.model)
    proto.graph.name = "tinyicenet_qcdq"
    return proto


def float_proto(model, tile: int | tuple[int, int]) -> onnx.ModelProto:
    """Float torch model -> ONNX ``ModelProto`` with symbolic N/H/W."""
    import torch

    x = _example_input(model, tile)
    model = model.cpu().eval()
    buffer = io.BytesIO()
    with _quiet_export():
        try:
            torch.onnx.export(model, (x,), buffer, input_names=["global_in"],
                              output_names=["global_out"], opset_version=OPSET, dynamo=False,
                              dynamic_axes={"global_in": {0: "N", 2: "H", 3: "W"},
                                            "global_out": {0: "N", 2: "H", 3: "W"}})
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExportError(f"ONNX export of {getattr(model, 'name', 'model')} failed: "
                              f"{first}") from None
    return onnx.load_from_string(buffer.getvalue())


def export_onnx(model, path: str | os.PathLike[str], tile: int | tuple[int, int],
                qonnx=None) -> Path:
    """Write the onnxruntime graph of ``model`` (float export or QCDQ) to ``path`` atomically.

    ``qonnx``: the model's QONNX wrapper if already exported (saves a second Brevitas export).
    """
    if getattr(model, "quantized", False):
        proto = qcdq_proto(qonnx if qonnx is not None else qonnx_model(model, tile))
    else:
        proto = float_proto(model, tile)
    onnx.checker.check_model(proto)
    with atomic_path(path) as tmp:
        onnx.save(proto, tmp)
    return Path(path)


def run_qonnx(model_or_path, tiles: np.ndarray) -> np.ndarray:
    """Execute a QONNX graph with qonnx's executor on float tiles ``[N, C, H, W]`` (one by one)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    wrapper = model_or_path if isinstance(model_or_path, ModelWrapper) else ModelWrapper(
        str(model_or_path))
    iname, oname = wrapper.graph.input[0].name, wrapper.graph.output[0].name
    expected = tuple(wrapper.get_tensor_shape(iname))
    tiles = np.asarray(tiles, dtype=np.float32)
    if tiles.ndim != 4 or tiles.shape[1:] != expected[1:]:
        raise ExportError(f"QONNX graph takes tiles of shape {expected[1:]}, got "
                          f"{tiles.shape[1:] if tiles.ndim == 4 else tiles.shape}")
    outs = [execute_onnx(wrapper, {iname: tiles[i:i + 1]})[oname] for i in range(len(tiles))]
    return np.concatenate(outs, axis=0)
