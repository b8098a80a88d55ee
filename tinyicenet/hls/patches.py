"""A runtime fix for hls4ml 1.3.0's Resize clean-up pass under numpy >= 2.2.

``hls4ml.model.optimizer.passes.resize_remove_constants.ResizeRemoveConstants.transform`` warns
when the RoI is non-empty with ``if roi_node.get_attr('value'):``. The value is a numpy array, and
numpy >= 2.2 refuses the truth value of an empty array (it used to be False), so conversion of any
model with a Resize fails. tinyicenet does not edit site-packages: :func:`apply_hls4ml_patches`
wraps that one method, at run time, so that in exactly the failing case (the RoI constant holds an
empty array) the original runs with the value set to ``None`` - what numpy < 2.2 made of it; every
other case runs the original unchanged. The wrap is applied only where the method's source is the
hls4ml 1.3.0 text it was written for (its SHA-256 below) and is idempotent.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

_PATCHED_ATTR = "_tinyicenet_patched"
#: SHA-256 of ``inspect.getsource(ResizeRemoveConstants.transform)`` in hls4ml 1.3.0
TRANSFORM_SHA256 = "608c171c02ee7add031f632eeeb0629d73a8e533ce81aaeaa7144529e0d1f547"


def _source_sha256(func: Callable[..., Any]) -> str | None:
    try:
        return hashlib.sha256(inspect.getsource(func).encode()).hexdigest()
    except (OSError, TypeError):  # no source to compare: treat as a different release
        return None


def _empty_roi_node(node: Any) -> Any:
    """The Constant feeding the Resize's RoI input when it holds an empty array, else None."""
    from hls4ml.model.layers import Constant

    if len(getattr(node, "inputs", ())) < 2:
        return None
    roi_node = node.get_input_node(node.inputs[1])
    if not isinstance(roi_node, Constant):
        return None
    value = roi_node.get_attr("value")
    return roi_node if isinstance(value, np.ndarray) and value.size == 0 else None


def _wrap(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def transform(self, model, node):  # noqa: ANN001 - hls4ml's OptimizerPass signature
        roi_node = _empty_roi_node(node)
        if roi_node is None:
            return original(self, model, node)
        value = roi_node.attributes["value"]
        roi_node.attributes["value"] = None  # falsy, as the empty array was before numpy 2.2
        try:
            return original(self, model, node)
        finally:
            roi_node.attributes["value"] = value

    return transform


def apply_hls4ml_patches() -> bool:
    """Patch hls4ml in this process if it is the release the patch is for; True if in place."""
    from hls4ml.model.optimizer.passes.resize_remove_constants import ResizeRemoveConstants

    if getattr(ResizeRemoveConstants, _PATCHED_ATTR, False):
        return True
    if _source_sha256(ResizeRemoveConstants.transform) != TRANSFORM_SHA256:
        return False
    ResizeRemoveConstants.transform = _wrap(ResizeRemoveConstants.transform)
    setattr(ResizeRemoveConstants, _PATCHED_ATTR, True)
    return True
