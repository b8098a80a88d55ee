"""Graph preparation for hls4ml: the passes keep the network's numbers and leave no transposes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from onnx import helper

from tinyicenet.errors import ExportError
from helpers import calibrated_model


@pytest.fixture(scope="module", params=["tinyicenet_w4a4", "tinyicenet_w4a4_noskip"])
def prepared(request):
    from tinyicenet.export.onnx_export import qonnx_model
    from tinyicenet.hls.passes import prepare_for_hls

    model = calibrated_model(request.param, seed=3)
    qonnx = qonnx_model(model, 32)
    return model, qonnx, prepare_for_hls(qonnx)


def _run_nhwc(wrapper, tiles: np.ndarray) -> np.ndarray:
    from qonnx.core.onnx_exec import execute_onnx

    iname, oname = wrapper.graph.input[0].name, wrapper.graph.output[0].name
    outs = [execute_onnx(wrapper, {iname: np.ascontiguousarray(t[None].transpose(0, 2, 3, 1))})
            [oname] for t in tiles]
    return np.concatenate(outs).transpose(0, 3, 1, 2)


def test_prepared_graph_is_all_nhwc_and_hls4ml_shaped(prepared):
    from tinyicenet.hls.passes import OUTPUT_LAYOUT_KEY

    model, _, graph = prepared
    ops = [n.op_type for n in graph.graph.node]
    assert "Transpose" not in ops
    assert graph.get_tensor_shape(graph.graph.input[0].name) == [1, 32, 32, 2]
    assert graph.get_tensor_shape(graph.graph.output[0].name) == [1, 32, 32, 6]
    assert graph.get_metadata_prop(OUTPUT_LAYOUT_KEY) == "NHWC"
    resizes = graph.get_nodes_by_op_type("Resize")
    assert len(resizes) == len(model.widths) - 1
    for node in resizes:
        assert node.input[1] != ""  # the RoI is a named (empty) initializer
        assert graph.get_initializer(node.input[1]).size == 0
        assert list(graph.get_initializer(node.input[2])) == [1.0, 2.0, 2.0, 1.0]
    concats = graph.get_nodes_by_op_type("Concat")
    assert len(concats) == (len(model.widths) - 1 if model.skips else 0)
    for node in concats:
        assert helper.get_attribute_value(node.attribute[0]) == 3


def test_prepared_graph_computes_what_brevitas_computes(prepared):
    """Executed by qonnx (fresh random tiles), the NHWC graph equals the Brevitas model."""
    model, _, graph = prepared
    tiles = (np.random.default_rng(57).standard_normal((2, 2, 32, 32)) * 1.5).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(tiles)).numpy()
    got = _run_nhwc(graph, tiles)
    assert np.count_nonzero(got != want) == 0


def test_retile_scales_every_shape_and_refuses_fractions(prepared):
    from tinyicenet.hls.passes import retile

    _, _, graph = prepared
    big = retile(graph, 128)
    assert big.get_tensor_shape(big.graph.input[0].name) == [1, 128, 128, 2]
    assert big.get_tensor_shape(big.graph.output[0].name) == [1, 128, 128, 6]
    for vi in graph.graph.value_info:
        old, new = graph.get_tensor_shape(vi.name), big.get_tensor_shape(vi.name)
        if len(old) == 4 and old[0] == 1:  # images (batch 1) scale
            assert new == [1, old[1] * 4, old[2] * 4, old[3]]
        else:  # quantized weights keep their shapes
            assert new == old
    with pytest.raises(ExportError, match="multiple of the model stride"):
        retile(graph, 34)


def test_unsupported_op_is_named(prepared):
    from tinyicenet.hls.passes import check_supported
    from tinyicenet.hls.passes import retile

    _, _, graph = prepared
    broken = retile(graph, 32)
    pool = broken.get_nodes_by_op_type("MaxPool")[0]
    pool.op_type = "AveragePool"
    with pytest.raises(ExportError, match=rf"node {pool.name}: op AveragePool is not mapped"):
        check_supported(broken)


def test_unmappable_model_layer_is_refused_by_name():
    """A model layer the flow cannot map (average pooling) fails naming that layer's node."""
    from tinyicenet.export.onnx_export import qonnx_model
    from tinyicenet.hls.passes import prepare_for_hls

    model = calibrated_model("tinyicenet_w4a4_noskip", seed=3)
    model.pool = torch.nn.AvgPool2d(2)
    with pytest.raises(ExportError, match="node AveragePool_0: op AveragePool is not mapped"):
        prepare_for_hls(qonnx_model(model, 32))


def test_hls4ml_resize_patch_handles_empty_roi():
    """hls4ml 1.3.0 tests an empty numpy RoI for truth; numpy >= 2.2 refuses that."""
    from hls4ml.model.optimizer.passes.resize_remove_constants import ResizeRemoveConstants

    from tinyicenet.hls.patches import apply_hls4ml_patches

    with pytest.raises(ValueError):
        bool(np.zeros((0,)))  # why the patch exists (numpy >= 2.2)
    assert apply_hls4ml_patches() is True
    assert getattr(ResizeRemoveConstants, "_tinyicenet_patched", False)
    assert apply_hls4ml_patches() is True  # idempotent


def test_accumulator_range_holds_every_real_accumulator(prepared):
    """The narrowed accumulators bound the integer reference's actual conv sums."""
    from tinyicenet.export.intref import conv_int, from_brevitas
    from tinyicenet.hls.quant_formats import conv_formats

    model, _, graph = prepared
    formats = conv_formats(graph)
    intmodel = from_brevitas(model)
    tiles = (np.random.default_rng(125).standard_normal((2, 2, 32, 32)) * 4).astype(np.float32)
    values = intmodel.run_int(intmodel.quantize_input(tiles), keep=True)
    convs = intmodel.conv_layers()
    assert len(convs) == len(formats)
    for fmt, lay in zip(formats, convs):
        acc = conv_int(values[lay.inputs[0]], lay) + lay.bias.astype(np.int64)[None, :, None, None]
        assert fmt.acc_min <= acc.min() and acc.max() <= fmt.acc_max
        assert fmt.acc_exponent == lay.in_exp + lay.weight_exp
        assert fmt.acc_bits <= lay.acc_bits  # never wider than the static bound of the reference
        lo, hi = -(2 ** (fmt.acc_bits - 1)), 2 ** (fmt.acc_bits - 1) - 1
        assert lo <= fmt.acc_min and fmt.acc_max <= hi
