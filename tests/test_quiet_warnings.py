"""No process-wide warnings filter; only known-harmless warnings silenced, by message; the hls4ml
numpy patch wraps only the failing case of the one release it is written for."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_installs_no_warnings_filter() -> None:
    # torch installs filters of its own when imported: compare after it
    code = ("import warnings, torch, typer; before = list(warnings.filters); "
            "import tinyicenet, tinyicenet.cli, tinyicenet.models; "
            "assert warnings.filters == before, warnings.filters[:3]")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr


def _shown(block, *emit) -> list[str]:
    """Messages of the warnings ``emit`` (callables) that get through ``block``."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with block():
            for e in emit:
                e()
    return [str(w.message) for w in seen]


def test_brevitas_notices_silenced_by_message_only() -> None:
    from tinyicenet.models.deps import quiet_brevitas_import

    shown = _shown(
        quiet_brevitas_import,
        lambda: warnings.warn("fast_hadamard_transform package not found, using standard "
                              "pytorch kernels", UserWarning),
        lambda: warnings.warn("brevitas.fx is deprecated and will be removed", DeprecationWarning),
        lambda: warnings.warn("brevitas.fx is deprecated (wrong category)", UserWarning),
        lambda: warnings.warn("a new notice", UserWarning))
    assert shown == ["brevitas.fx is deprecated (wrong category)", "a new notice"]


def test_export_silences_only_the_known_tracer_warning() -> None:
    import torch

    from tinyicenet.export.onnx_export import _quiet_export

    tracer = torch.jit.TracerWarning
    known = "Converting a tensor to a Python boolean might cause the trace to be incorrect."
    shown = _shown(
        _quiet_export,
        lambda: warnings.warn_explicit(known, tracer, "tinyicenet.py", 1,
                                       module="tinyicenet.models.tinyicenet"),
        lambda: warnings.warn_explicit(known + " (elsewhere)", tracer, "other.py", 1,
                                       module="tinyicenet.models.other"),
        lambda: warnings.warn_explicit("Output nr 1. of the traced function does not match",
                                       tracer, "tinyicenet.py", 1,
                                       module="tinyicenet.models.tinyicenet"),
        lambda: warnings.warn("something the exporter never said", UserWarning))
    assert shown == [known + " (elsewhere)", "Output nr 1. of the traced function does not match",
                     "something the exporter never said"]


@pytest.mark.parametrize("name", ["tinyicenet_float", "tinyicenet_w4a4"])
def test_export_is_warning_free(tmp_path: Path, name: str) -> None:
    """What the verified exporters say is all in the silenced lists (else it shows here)."""
    from helpers import calibrated_model

    from tinyicenet.export.onnx_export import export_onnx, qonnx_model

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        model = calibrated_model(name)
        qonnx = qonnx_model(model, 32) if model.quantized else None
        export_onnx(model, tmp_path / "model.onnx", 32, qonnx=qonnx)
    assert [f"{w.category.__name__}: {w.message}" for w in seen] == []


# --- hls4ml ResizeRemoveConstants patch -------------------------------------------------------

class _Node:
    """The parts of an hls4ml Resize node the pass touches."""

    def __init__(self, inputs: dict[str, object]) -> None:
        self.inputs = list(inputs)
        self._by_name = inputs

    def get_input_node(self, name: str):
        return self._by_name.get(name)


class _Model:
    def __init__(self) -> None:
        self.removed: list[object] = []

    def remove_node(self, node) -> None:
        self.removed.append(node)


def _resize(roi_value):
    from hls4ml.model.layers import Constant

    def const(value):
        c = Constant.__new__(Constant)  # no graph needed: the pass reads attributes only
        c.attributes = {"value": value}
        return c

    roi, scales = const(roi_value), const(np.array([1.0, 1.0, 2.0, 2.0]))
    return _Node({"x": object(), "roi": roi, "scales": scales}), roi, scales


@pytest.fixture
def resize_pass():
    """hls4ml's pass class and its unpatched method; the class is left as it was found."""
    pytest.importorskip("hls4ml")
    from hls4ml.model.optimizer.passes.resize_remove_constants import ResizeRemoveConstants as cls

    from tinyicenet.hls.patches import apply_hls4ml_patches

    before, was_patched = cls.transform, "_tinyicenet_patched" in cls.__dict__
    original = before.__wrapped__ if was_patched else before  # convert() may have run already
    cls.transform = original
    if was_patched:
        delattr(cls, "_tinyicenet_patched")
    yield cls, original, apply_hls4ml_patches
    cls.transform = before
    if was_patched:
        cls._tinyicenet_patched = True
    elif "_tinyicenet_patched" in cls.__dict__:
        delattr(cls, "_tinyicenet_patched")


def test_hls4ml_patch_fixes_the_empty_roi_case_only(resize_pass) -> None:
    cls, original, apply = resize_pass
    if tuple(int(p) for p in np.__version__.split(".")[:2]) >= (2, 2):
        node, _, _ = _resize(np.array([], dtype=np.float32))
        with pytest.raises(ValueError, match="truth value of an empty array"):
            original(cls(), _Model(), node)  # the bug the patch is for
    assert apply() is True and apply() is True  # idempotent
    assert cls.transform.__wrapped__ is original

    empty = np.array([], dtype=np.float32)
    node, roi, scales = _resize(empty)
    model = _Model()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert cls().transform(model, node) is True
    assert model.removed == [scales, roi] and node.inputs == ["x"]
    assert roi.attributes["value"] is empty  # restored after the call
    assert not [w for w in seen if "RoI" in str(w.message)]

    # a non-empty RoI takes the original path unchanged: it still warns
    node, roi, scales = _resize(np.array([0.5], dtype=np.float32))
    with pytest.warns(UserWarning, match="RoI value vector is not empty"):
        assert cls().transform(_Model(), node) is True


def test_hls4ml_patch_leaves_other_sources_alone(resize_pass) -> None:
    cls, _, apply = resize_pass

    def other_release(self, model, node):  # noqa: ANN001 - stands for a changed hls4ml method
        return "theirs"

    cls.transform = other_release
    assert apply() is False
    assert cls.transform is other_release
