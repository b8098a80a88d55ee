"""Re-size a prepared (all-NHWC) graph for another square tile without re-running shape inference.

qonnx's shape inference hides its custom ops behind shape-compatible stand-ins whose text grows
with the tensor size, so preparing a graph at 256 x 256 takes minutes. Every op of a prepared graph
(see :mod:`check_supported`) scales its spatial size by a fixed factor (same-padded conv: 1,
max-pool: 1/2, resize: its scale, concat/quant/relu: 1), so the shapes of a graph prepared at one
tile follow for any other by one ratio. Used by the planner to try several tile sizes.
"""

from __future__ import annotations

from fractions import Fraction

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation

from tinyicenet.errors import ExportError


def _image_tensors(model: ModelWrapper) -> set[str]:
    """Tensors computed from the graph input (not from parameters)."""
    images = {model.graph.input[0].name}
    for node in model.graph.node:  # graph order is topological
        data = node.input if node.op_type == "Concat" else node.input[:1]
        if any(name in images for name in data):
            images.update(node.output)
    return images


class Retile(Transformation):
    """Scale the H and W of every NHWC tensor so that the graph input is ``tile`` x ``tile``."""

    def __init__(self, tile: int) -> None:
        super().__init__()
        self.tile = int(tile)

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        iname = model.graph.input[0].name
        shape = model.get_tensor_shape(iname)
        if shape is None or len(shape) != 4 or shape[1] != shape[2]:
            raise ExportError(f"retile needs a square NHWC graph input, got {shape}")
        ratio = Fraction(self.tile, shape[1])
        if ratio == 1:
            return model, False
        images = _image_tensors(model)
        values = list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output)
        for value in values:
            dims = value.type.tensor_type.shape.dim
            if len(dims) != 4 or value.name not in images:
                continue  # weights (quantized initializers) keep their shapes
            for axis in (1, 2):
                scaled = dims[axis].dim_value * ratio
                if scaled.denominator != 1:
                    raise ExportError(f"tile {self.tile}: tensor {value.name} would be "
                                      f"{dims[axis].dim_value} * {ratio} pixels; use a multiple "
                                      "of the model stride")
                dims[axis].dim_value = int(scaled)
        return model, False
