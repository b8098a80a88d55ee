"""The onnxruntime CPU session that runs an exported ``model.onnx``.

Lives in export (not backends) because the export checks run it too; graph optimisations stay off
by default since onnxruntime's optimiser would fuse the Q/DQ pairs of the QCDQ graph into integer
kernels that round differently (see :mod:`tinyicenet.export.onnx_export`).
"""

from __future__ import annotations

import os
from pathlib import Path

from tinyicenet.errors import ExportError


def make_session(path: str | os.PathLike[str], *, optimize: bool = False, threads: int = 0):
    """An onnxruntime CPU session for ``path`` (optimisations off unless ``optimize``)."""
    import onnxruntime as ort

    p = Path(path)
    if not p.is_file():
        raise ExportError(f"{p}: ONNX model not found")
    options = ort.SessionOptions()
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    if threads:
        options.intra_op_num_threads = int(threads)
    try:
        return ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"{p}: onnxruntime cannot load the model: {first}") from None
