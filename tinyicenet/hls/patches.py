"""A runtime fix for hls4ml 1.3.0's Resize clean-up pass under numpy >= 2.2.

``hls4ml.model.optimizer.passes.resize_remove_constants.ResizeRemoveConstants.transform`` warns
when the RoI is non-empty with ``if roi_node.get_attr('value'):``. The value is a numpy array, and
numpy >= 2.2 refuses the truth value of an empty array (it used to be False), so conversion of any
model with a Resize fails. tinyicenet does not edit site-packages: :func:`apply_hls4ml_patches`
replaces that one method on the class, at run time, by the same logic with ``.size`` as the test.
The patch is applied only to hls4ml 1.3.x (later versions are expected to carry the fix) and is
idempotent.
"""

from __future__ import annotations

from warnings import warn

import numpy as np

_PATCHED_ATTR = "_tinyicenet_patched"


def _transform(self, model, node):  # noqa: ANN001 - hls4ml's OptimizerPass signature
    """hls4ml 1.3.0's ResizeRemoveConstants.transform with an array-safe RoI test."""
    from hls4ml.model.layers import Constant

    roi_index, scales_idx = 1, 2
    scales_node = node.get_input_node(node.inputs[scales_idx])
    node.inputs[scales_idx] = ""
    if not isinstance(scales_node, Constant):
        raise RuntimeError("Non-constant shape inputs are not supported")
    model.remove_node(scales_node)
    roi_node = node.get_input_node(node.inputs[roi_index])
    roi_value = roi_node.get_attr("value")
    if roi_value is not None and np.asarray(roi_value).size > 0:  # the fix: no array truth value
        warn("RoI value vector is not empty. Consider that RoI is not supported in hls4ml",
             stacklevel=2)
    node.inputs[roi_index] = ""
    if not isinstance(roi_node, Constant):
        raise RuntimeError("Non-constant RoI inputs are not supported")
    model.remove_node(roi_node)
    node.inputs = list(filter(None, node.inputs))
    return True


def apply_hls4ml_patches() -> bool:
    """Patch hls4ml in this process if needed; returns True if the patch is (now) in place."""
    import hls4ml
    from hls4ml.model.optimizer.passes.resize_remove_constants import ResizeRemoveConstants

    if getattr(ResizeRemoveConstants, _PATCHED_ATTR, False):
        return True
    if not hls4ml.__version__.startswith("1.3."):
        return False
    ResizeRemoveConstants.transform = _transform
    setattr(ResizeRemoveConstants, _PATCHED_ATTR, True)
    return True
