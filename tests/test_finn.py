"""FINN build inputs: generated files are consistent with the model (FINN itself is not run)."""

from __future__ import annotations

import importlib.util
import json
import math
import py_compile

import numpy as np
import pytest
import torch

from tinyicenet.errors import ConfigError, ExportError
from tinyicenet.finn import hw_layers, plan_folding, write_finn_inputs
from tinyicenet.finn.folding import fold_mvau
from tinyicenet.finn.layers import HwLayer

TILE = 32


def small_model(name="tinyicenet_w4a4", widths=(4, 8, 8)):
    from tinyicenet.models import calibrate, create_model

    torch.manual_seed(0)
    model = create_model(name, widths=widths)
    g = torch.Generator().manual_seed(1)
    calibrate(model, [torch.randn(2, 2, TILE, TILE, generator=g) * 2 for _ in range(2)])
    return model.eval()


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("finn") / "finn_inputs"
    model = small_model()
    plan = write_finn_inputs(model, out, tile=TILE, target_fps=20000, clk_ns=5.0)
    return model, out, plan


def load(out, name):
    return json.loads((out / name).read_text())


def test_files_and_build_configuration(generated):
    _, out, plan = generated
    assert {p.name for p in out.iterdir()} == {
        "model.onnx", "folding_config.json", "specialize_layers.json",
        "dataflow_build_config.json", "layer_map.json", "input.npy", "expected_output.npy",
        "build.py", "README.md"}
    cfg = load(out, "dataflow_build_config.json")
    assert cfg["board"] == "ZCU102" and cfg["shell_flow_type"] == "vivado_zynq"
    assert cfg["synth_clk_period_ns"] == 5.0 and cfg["target_fps"] == 20000
    assert {"bitfile", "pynq_driver", "estimate_reports"} <= set(cfg["generate_outputs"])
    for key in ("folding_config_file", "specialize_layers_config_file", "verify_input_npy",
                "verify_expected_output_npy"):
        assert (out / cfg[key]).is_file()
    readme = (out / "README.md").read_text()
    assert "**Not run here or in CI.**" in readme and "run-docker.sh build_custom" in readme
    assert f"{plan['estimated_fps']:.1f} tiles/s (modelled, not measured)" in readme
    spec = load(out, "specialize_layers.json")["Defaults"]["preferred_impl_style"]
    styles = dict(zip(spec[::2], spec[1::2], strict=True))  # [value, [ops], value, [ops]]
    assert "MVAU" in styles["hls"] and "ConvolutionInputGenerator" in styles["rtl"]


def test_layers_match_the_model_and_folding_divides(generated):
    from tinyicenet.export.intref import from_brevitas

    model, out, _ = generated
    rows = load(out, "layer_map.json")["layers"]
    convs = from_brevitas(model).conv_layers()
    mvaus = [r for r in rows if r["op"] == "MVAU"]
    assert [r["model_layer"] for r in mvaus] == [c.name for c in convs] == [
        "enc0", "enc1", "bottleneck", "dec1", "dec0", "head"]
    for row, conv in zip(mvaus, convs, strict=True):
        o, i, k, _ = conv.weight.shape
        assert (row["out_channels"], row["channels"], row["kernel"]) == (o, i, k)
        f = row["folding"]
        assert o % f["PE"] == 0 and i % f["SIMD"] == 0
        assert row["cycles"] == math.prod(row["out_hw"]) * (k * k * i // f["SIMD"]) * (o // f["PE"])
    simd = {r["source"]: r["folding"]["SIMD"] for r in mvaus}
    for row in rows:
        f = row["folding"]
        if row["op"] in ("FMPadding", "ConvolutionInputGenerator"):
            assert f["SIMD"] == simd[row["source"]] and row["channels"] % f["SIMD"] == 0
        elif row["op"] in ("StreamingMaxPool", "DuplicateStreams"):
            assert row["channels"] % f["PE"] == 0
        elif row["op"] == "StreamingConcat":
            assert all(c % f["SIMD"] == 0 for c in row["stream_channels"])
            assert sum(row["stream_channels"]) == row["channels"]
    ops = [r["op"] for r in rows]
    assert ops.count("DuplicateStreams") == 2 and ops.count("StreamingConcat") == 2
    assert ops.count("ConvolutionInputGenerator") == 5  # every 3x3 conv; the 1x1 head has none
    # names as FINN's GiveUniqueNodeNames gives them after specialisation: op_style_index
    assert [r["finn_name"] for r in mvaus] == [f"MVAU_hls_{i}" for i in range(6)]
    folding = load(out, "folding_config.json")
    assert set(folding) == {"Defaults"} | {r["finn_name"] for r in rows if r["folding"]}
    for row in rows:
        if row["folding"]:
            assert folding[row["finn_name"]] == row["folding"]


def test_layer_sources_exist_in_model_onnx_and_it_computes_the_expected_output(generated):
    from qonnx.core.modelwrapper import ModelWrapper

    from tinyicenet.export.intref import from_brevitas
    from tinyicenet.export.onnx_export import run_qonnx

    model, out, _ = generated
    graph = ModelWrapper(str(out / "model.onnx"))
    names = {n.name for n in graph.graph.node}
    assert {r["source"] for r in load(out, "layer_map.json")["layers"]} <= names
    x = np.load(out / "input.npy")
    expected = np.load(out / "expected_output.npy")
    assert x.shape == (1, 2, TILE, TILE) and expected.shape == (1, 6, TILE, TILE)
    im = from_brevitas(model)
    assert np.array_equal(expected, im.dequantize_output(im.run_int(im.quantize_input(x))))
    assert np.array_equal(run_qonnx(graph, x), expected)  # the cleaned graph is the same network


def test_noskip_model_has_no_duplicates_or_concats(tmp_path):
    plan = write_finn_inputs(small_model("tinyicenet_w4a4_noskip"), tmp_path / "f", tile=TILE)
    ops = [r["op"] for r in plan["layers"]]
    assert "DuplicateStreams" not in ops and "StreamingConcat" not in ops
    assert ops.count("MVAU") == 6


def test_folding_meets_or_flags_the_target():
    layer = HwLayer("MVAU", "Conv_0", "enc0", (64, 64), (64, 64), 16, 32, 3)
    attrs, cycles = fold_mvau(layer, target=64 * 64 * 9 * 16 * 32 / 8)
    assert attrs["PE"] * attrs["SIMD"] == 8 and cycles <= 64 * 64 * 9 * 16 * 32 / 8
    assert attrs["SIMD"] == 8  # ties go to SIMD, as FINN's SetFolding raises SIMD first
    attrs, cycles = fold_mvau(layer, target=10)  # unreachable: fully parallel
    assert attrs == {"PE": 32, "SIMD": 16} and cycles == 64 * 64 * 9
    plan = plan_folding([layer], target_fps=1e9, clk_ns=5.0)
    assert plan["meets_target"] is False and plan["layers"][0]["meets_target"] is False
    assert plan["estimated_fps"] == pytest.approx(200e6 / (64 * 64 * 9))
    with pytest.raises(ConfigError, match="must be positive"):
        plan_folding([layer], target_fps=0, clk_ns=5.0)


def _template():
    from tinyicenet.finn.inputs import TEMPLATE

    py_compile.compile(str(TEMPLATE), doraise=True)
    spec = importlib.util.spec_from_file_location("finn_build", TEMPLATE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # imports no FINN at module level
    return module


def _finn_nodes(rows):
    """The attributes FINN's HW nodes would carry for these layers (FINN's attribute names)."""
    nodes = []
    for r in rows:
        op, h = r["op"], r["out_hw"]
        if op == "MVAU":
            attrs = {"MW": r["kernel"] ** 2 * r["channels"], "MH": r["out_channels"],
                     "numInputVectors": [1, *h]}
        elif op == "ConvolutionInputGenerator":
            attrs = {"IFMChannels": r["channels"], "ConvKernelDim": [r["kernel"]] * 2, "OFMDim": h}
        elif op in ("FMPadding", "StreamingMaxPool"):
            attrs = {"NumChannels": r["channels"], "ImgDim": r["in_hw"]}
        elif op == "DuplicateStreams":
            attrs = {"NumChannels": r["channels"], "numInputVectors": [1, *r["in_hw"]]}
        elif op == "StreamingConcat":
            attrs = {"ChannelsPerStream": r["stream_channels"]}
        else:
            attrs = {}
        nodes.append((f"{op}_x_{len(nodes)}", op, attrs))
    return nodes


def test_build_script_applies_folding_by_shape(generated):
    _, out, _ = generated
    module = _template()
    assert (out / "build.py").read_text() == module.__loader__.get_data(module.__file__).decode()
    rows = load(out, "layer_map.json")["layers"]
    nodes = _finn_nodes(rows)
    assigned = module.match_folding(list(reversed(nodes)), rows)  # FINN's order may differ
    by_sig = {}
    for name, op, attrs in nodes:
        by_sig.setdefault(module.signature(op, attrs), set()).add(name)
    for row in rows:
        if row["folding"]:
            names = by_sig[module.layer_signature(row)]
            assert any(assigned[n] == row["folding"] for n in names)
    assert len(assigned) == sum(1 for r in rows if r["folding"])
    with pytest.raises(ValueError, match="no node for predicted layer"):
        module.match_folding([n for n in nodes if n[1] != "MVAU"], rows)


def test_unmappable_layers_and_precisions_are_named():
    import copy

    from onnx import helper
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.general import GiveUniqueNodeNames

    from tinyicenet.export.onnx_export import qonnx_model

    clean = qonnx_model(small_model(), TILE).transform(GiveUniqueNodeNames())

    def _graph_with(_model, edit):
        graph = ModelWrapper(copy.deepcopy(clean.model))
        edit(graph)
        return graph

    model = None
    convs = ["enc0", "enc1", "bottleneck", "dec1", "dec0", "head"]

    def add_sigmoid(g):
        last = g.graph.node[-1]
        old = last.output[0]
        last.output[0] = "pre_sigmoid"
        g.graph.node.append(helper.make_node("Sigmoid", ["pre_sigmoid"], [old], name="Sigmoid_0"))

    with pytest.raises(ExportError, match=r"FINN cannot map Sigmoid \(Sigmoid_0\)"):
        hw_layers(_graph_with(model, add_sigmoid), convs)

    def widen_activation(g):
        quant = next(n for n in g.graph.node if n.op_type == "Quant"
                     and g.get_initializer(n.input[0]) is None)
        g.set_initializer(quant.input[3], np.array(16.0, dtype=np.float32))

    with pytest.raises(ExportError, match="activation quantizer .* is 16 bits.*precision mismatch"):
        hw_layers(_graph_with(model, widen_activation), convs)

    def linear_resize(g):
        node = next(n for n in g.graph.node if n.op_type == "Resize")
        for a in node.attribute:
            if a.name == "mode":
                a.s = b"linear"

    with pytest.raises(ExportError, match="not a square integer nearest-neighbour upsample"):
        hw_layers(_graph_with(model, linear_resize), convs)
    with pytest.raises(ExportError, match="6 convolutions, the integer model 5"):
        hw_layers(_graph_with(model, lambda g: None), convs[:5])


def test_bad_models_write_nothing(tmp_path):
    float_model = small_model("tinyicenet_float")
    with pytest.raises(ExportError, match="float model"):
        write_finn_inputs(float_model, tmp_path / "a", tile=TILE)
    with pytest.raises(ConfigError, match="not a multiple of the model stride"):
        write_finn_inputs(small_model(), tmp_path / "b", tile=30)
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_the_inputs(tmp_path, capsys):
    from tinyicenet.cli import main
    from tinyicenet.models import save_checkpoint

    save_checkpoint(tmp_path / "m.pt", small_model())
    with pytest.raises(SystemExit) as exc:
        main(["board", "finn", str(tmp_path / "m.pt"), "--out", str(tmp_path / "finn"),
              "--tile", str(TILE), "--target-fps", "5000"])
    assert exc.value.code == 0, capsys.readouterr().err
    assert "not measured" in capsys.readouterr().err
    assert load(tmp_path / "finn", "dataflow_build_config.json")["target_fps"] == 5000
    with pytest.raises(SystemExit) as exc:
        main(["board", "finn", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code != 0 and len(err) == 1 and err[0].startswith("error: ")
    assert not (tmp_path / "x").exists()
