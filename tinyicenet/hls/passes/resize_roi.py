"""Give a Resize's empty RoI input a named, empty initializer.

The torch exporter leaves the RoI input of ``Resize`` as the empty name ``''`` (meaning "absent").
hls4ml looks up a shape for every input name and fails with "Could not find the shape for input
''"; a named empty float tensor means the same to ONNX and is found by hls4ml (its Resize clean-up
pass then drops it).
"""

from __future__ import annotations

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation

ROI_INDEX = 1


class NameEmptyResizeRoI(Transformation):
    """Replace ``''`` RoI inputs of Resize nodes by a named empty initializer."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        changed = False
        for node in model.get_nodes_by_op_type("Resize"):
            if len(node.input) > ROI_INDEX and node.input[ROI_INDEX] == "":
                name = f"{node.name or node.output[0]}_roi"
                model.set_initializer(name, np.zeros((0,), dtype=np.float32))
                node.input[ROI_INDEX] = name
                changed = True
        return model, changed
