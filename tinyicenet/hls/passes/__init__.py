"""Graph preparation for hls4ml: one qonnx Transformation per module.

:func:`prepare_for_hls` runs qonnx's clean-up and channels-last conversion, then the passes that
qonnx does not provide for a U-Net (Resize and Concat in NHWC, transposes removed, RoI named),
and finally checks that every op is one the bit-exact route maps.
"""

from __future__ import annotations

from qonnx.core.modelwrapper import ModelWrapper

from tinyicenet.hls.passes.check_supported import SUPPORTED, check_supported
from tinyicenet.hls.passes.remove_transposes import (CONVERTERS, OUTPUT_LAYOUT_KEY,
                                                     OutputToChannelsLast, RemoveDeadTransposes,
                                                     RemoveLayoutTransposes)
from tinyicenet.hls.passes.resize_roi import NameEmptyResizeRoI
from tinyicenet.hls.passes.retile import Retile

__all__ = ["CONVERTERS", "NameEmptyResizeRoI", "OUTPUT_LAYOUT_KEY", "OutputToChannelsLast",
           "RemoveDeadTransposes", "RemoveLayoutTransposes", "Retile", "SUPPORTED",
           "check_supported", "retile",
           "prepare_for_hls", "tinyicenet_passes", "with_tile"]


def tinyicenet_passes() -> list:
    """The project's passes, in the order they run after qonnx's channels-last conversion."""
    return [NameEmptyResizeRoI(), RemoveLayoutTransposes(), RemoveDeadTransposes(),
            OutputToChannelsLast(), RemoveDeadTransposes()]


def prepare_for_hls(model: ModelWrapper, source: str = "model") -> ModelWrapper:
    """A QONNX model from Brevitas -> an all-NHWC QONNX model hls4ml converts exactly."""
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.util.cleanup import cleanup_model

    model = cleanup_model(model)
    model = model.transform(ConvertToChannelsLastAndClean(make_input_channels_last=True))
    from qonnx.transformation.general import RemoveUnusedTensors

    for transformation in tinyicenet_passes():
        model = model.transform(transformation)
    # orphaned initializers would clash with the names cleanup gives the live ones
    model = model.transform(RemoveUnusedTensors())
    model = cleanup_model(model)
    check_supported(model, source)
    return model


def with_tile(model: ModelWrapper, tile: int) -> ModelWrapper:
    """A copy of an NCHW QONNX graph re-shaped for ``tile`` x ``tile`` inputs (batch 1).

    The graph has no shape constants (Resize uses scales), so the new shapes follow by shape
    inference once the stale ones are dropped.
    """
    from qonnx.transformation.infer_shapes import InferShapes

    import onnx

    out = ModelWrapper(onnx.load_from_string(model.model.SerializeToString()))
    del out.graph.value_info[:]
    iname, oname = out.graph.input[0].name, out.graph.output[0].name
    c_in = out.get_tensor_shape(iname)[1]
    c_out = out.get_tensor_shape(oname)[1]
    out.set_tensor_shape(iname, [1, c_in, tile, tile])
    out.set_tensor_shape(oname, [1, c_out, tile, tile])
    out = out.transform(InferShapes())
    # a serialisation round trip: qonnx's clean-up misnames tensors of the in-memory result
    return ModelWrapper(onnx.load_from_string(out.model.SerializeToString()))


def retile(prepared: ModelWrapper, tile: int) -> ModelWrapper:
    """A copy of a prepared (NHWC) graph for ``tile`` x ``tile`` inputs (see :mod:`.retile`)."""
    import onnx

    copy = ModelWrapper(onnx.load_from_string(prepared.model.SerializeToString()))
    return copy.transform(Retile(tile))
