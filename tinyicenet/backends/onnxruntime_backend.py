"""``onnxruntime`` backend: the exported ``model.onnx`` on onnxruntime's CPU provider.

For a quantized model ``model.onnx`` is the QCDQ graph (see :mod:`tinyicenet.export.onnx_export`):
with graph optimisations off it equals the integer reference value for value (onnxruntime's
optimiser would fuse the QuantizeLinear/DequantizeLinear pairs into integer kernels that round
differently). For the float model it is the float export (optimisations on).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tinyicenet.backends import Backend
from tinyicenet.errors import ConfigError, ExportError
# defined in export (below backends) so the export checks can use it without a cycle
from tinyicenet.export.onnxruntime_session import make_session  # noqa: F401 - re-exported


def _manifest(folder: Path) -> dict[str, Any]:
    path = folder / "export.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path}: unreadable export manifest ({exc})") from None


class OnnxRuntimeBackend(Backend):
    """Run ``model.onnx`` of an export folder (or an .onnx file) with onnxruntime.

    Options: ``threads`` (intra-op threads, 0 = onnxruntime's default), ``optimize`` (graph
    optimisations: only for float models; refused for quantized ones because it breaks
    exactness).
    """

    name = "onnxruntime"
    device = "cpu"

    def __init__(self, artefact: Any, *, threads: int = 0, optimize: bool = False) -> None:
        path = Path(artefact)
        folder = path if path.is_dir() else path.parent
        onnx_path = path / "model.onnx" if path.is_dir() else path
        manifest = _manifest(folder)
        model = manifest.get("model", {})
        quantized = bool(model.get("quantized", "QuantizeLinear" in _op_types(onnx_path)))
        if quantized and optimize:
            raise ConfigError("onnxruntime backend: optimize=True fuses Q/DQ pairs and breaks "
                              "exactness; the quantized model runs with optimisations off")
        self.session = make_session(onnx_path, optimize=optimize, threads=threads)
        self._input = self.session.get_inputs()[0]
        bits = model.get("bit_widths") or {}
        from tinyicenet.models.precision import precision_label
        self.precision = precision_label(bits) + "-qcdq" if quantized else "fp32"
        shape = self._input.shape
        self.in_channels = int(shape[1]) if isinstance(shape[1], int) else None
        self.stride = int(model.get("stride", 1))
        self.model_name = model.get("name", "")

    def _run(self, tiles: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._input.name: np.ascontiguousarray(tiles)})[0]

    def close(self) -> None:
        self.session = None


def _op_types(path: Path) -> set[str]:
    import onnx

    try:
        return {n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node}
    except Exception:  # noqa: BLE001 - make_session reports unreadable files
        return set()
