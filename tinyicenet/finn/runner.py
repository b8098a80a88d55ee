"""FINN+ build of a TinyIceNet QONNX graph; run by the FINN environment's python, not imported.

Usage (``tinyicenet.finn.flow`` does this)::

    <finn-env>/bin/python runner.py JOB_DIR

``JOB_DIR/job.json`` says what to build; the QONNX graph and the host-quantized test tiles lie
beside it. The runner imports nothing from tinyicenet (the FINN environment does not have it):
it writes FINN's build folder (``JOB_DIR/build``: ``report/`` with FINN's estimate reports,
intermediate models, generated code), the graph outputs at each verification stage
(``JOB_DIR/outputs/<stage>__<set>.npy``) and ``JOB_DIR/runner.json`` (steps, folding, the
layers cppsim ran or could not compile, the steps it stopped before). The host compares the
outputs with its integer reference. Progress: one JSON line per event on stdout, prefixed ``@@``.

FINN+'s builder steps are called one by one, with the project's own steps where the stock ones
fail on this U-Net (each names the FINN+ defect it works around, see docs/finn-upstream/).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

JOB: Path = Path(".")


def emit(event: str, **data) -> None:
    print("@@" + json.dumps({"event": event, **data}), flush=True)


# ---------------------------------------------------------------------------------------------
# environment: FINN+ settings, the xsi import, a g++-only stand-in for Vitis HLS's headers


def fake_xilinx_hls(root: Path) -> Path:
    """A folder shaped like ``$XILINX_HLS`` holding hls4ml's open ap_types headers and stubs.

    FINN+'s cppsim build adds ``-I$XILINX_HLS/include`` and links three Xilinx libraries; the
    HLS layers used here need only the arbitrary-precision types and ``hls::stream``, which
    hls4ml ships (Apache-2.0). The libraries are empty archives.
    """
    import hls4ml

    src = Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
    inc = root / "include"
    if inc.exists():
        return root
    shutil.copytree(src, inc)
    (inc / "ap_axi_sdata.h").write_text(
        "#pragma once\n#include <ap_int.h>\n"
        "template<int D,int U=0,int TI=0,int TD=0> struct qdma_axis {\n"
        "  ap_uint<D> data; ap_uint<(D+7)/8> keep; ap_uint<1> last;\n"
        "  ap_uint<D> get_data() const { return data; }\n"
        "  void set_data(ap_uint<D> d) { data = d; }\n"
        "  void set_keep(ap_uint<(D+7)/8> k) { keep = k; }\n"
        "  void set_last(ap_uint<1> l) { last = l; }\n"
        "  ap_uint<1> get_last() const { return last; } };\n")
    (inc / "hls_vector.h").write_text(
        "#pragma once\n#include <array>\nnamespace hls {\n"
        "template<typename T, unsigned N> struct vector : std::array<T, N> {};\n}\n")
    # a 16-bit stand-in for Vitis' half type: named in finn-hlslib's and FINN's templates,
    # never computed with by the layers compiled here
    (inc / "tinyicenet_half.h").write_text(
        "#pragma once\n#include <cstdint>\nstruct half { std::uint16_t bits; };\n")
    # finn-hlslib copies older than FINN+'s pin lack unflatten(), which FINN+'s npy output
    # template calls for every HLS layer: the inverse of finn-hlslib's flatten() (element j in
    # bits [(j+1)W-1 : jW]); cppsim's comparison with the python execution checks it
    (inc / "tinyicenet_unflatten.h").write_text(
        "#pragma once\n#include <cstddef>\n"
        "template<typename T, std::size_t N, int FW>\n"
        "void unflatten(T (&buffer)[N], ap_uint<FW> const &flat) {\n"
        "  constexpr int W = FW / int(N);\n"
        "  for (std::size_t j = 0; j < N; j++) {\n"
        "    ap_uint<W> bits = flat((j + 1) * W - 1, j * W);\n"
        "    buffer[j] = T(bits); } }\n")
    with open(inc / "ap_int.h", "a") as handle:  # Vitis' ap_int.h brings half along
        handle.write('\n#include "tinyicenet_half.h"\n#include "tinyicenet_unflatten.h"\n')
    for lib, folder in (("hlsmc++-GCC46", "lnx64/lib/csim"), ("gmp", "lnx64/tools/fpo_v7_1"),
                        ("mpfr", "lnx64/tools/fpo_v7_1"),
                        ("Ip_floating_point_v7_1_bitacc_cmodel", "lnx64/tools/fpo_v7_1")):
        path = root / folder
        path.mkdir(parents=True, exist_ok=True)
        os.system(f"ar rc {path / ('lib' + lib + '.a')}")  # noqa: S605 - fixed arguments
    return root


def import_finn(build_dir: Path) -> None:
    """Import FINN+'s builder without Vivado (FINN+ defect: the import itself needs it)."""
    os.environ["FINN_BUILD_DIR"] = str(build_dir)
    import finn.xsi as xsi

    # ``from finn.xsi import SimEngine`` in build_dataflow_steps runs xsi.ensure_available(),
    # which raises without XILINX_VIVADO; rtlsim is not used here, so a placeholder will do
    xsi.SimEngine = None
    import finn.builder.build_dataflow_steps  # noqa: F401


# ---------------------------------------------------------------------------------------------
# the project's steps


def step_tinyicenet_prepare(model, cfg):
    """Before FINN: bias-quantizer shapes, and the input quantizer moved to the host.

    * Brevitas exports the bias quantizer's scale/zero-point as 0-d tensors; qonnx's conv-bias
      extraction (inside ConvertQONNXtoFINN) then fails reshaping them to (1, C, 1, 1). They
      become shape (1,).
    * The input quantizer (int8, 2**e) runs on the host: the graph input becomes the int8 tensor
      itself, followed by a ``Mul`` by 2**e that streamlining absorbs into the thresholds.
    """
    import numpy as np
    from onnx import helper
    from qonnx.core.datatype import DataType
    from qonnx.transformation.infer_shapes import InferShapes

    for node in model.graph.node:
        if node.op_type != "Quant":
            continue
        consumers = model.find_consumers(node.output[0]) or []
        if any(c.op_type == "Conv" and len(c.input) > 2 and c.input[2] == node.output[0]
               for c in consumers):
            for name in node.input[1:3]:
                value = model.get_initializer(name)
                if value is not None and value.ndim == 0:
                    model.set_initializer(name, value.reshape(1).astype(np.float32))
    gin = model.graph.input[0].name
    first = model.find_consumer(gin)
    if first is None or first.op_type != "Quant":
        raise RuntimeError("the QONNX graph does not start with an input Quant node")
    scale = float(model.get_initializer(first.input[1]).reshape(-1)[0])
    zero = float(model.get_initializer(first.input[2]).reshape(-1)[0])
    bits = int(model.get_initializer(first.input[3]).reshape(-1)[0])
    attrs = {a.name: helper.get_attribute_value(a) for a in first.attribute}
    spec = JOB_SPEC["input"]
    if zero != 0 or not attrs.get("signed", 1) or bits != spec["bits"] \
            or scale != 2.0 ** spec["exp"]:
        raise RuntimeError(f"input Quant (bits {bits}, scale {scale}, zero {zero}) is not the "
                           f"host's int{spec['bits']} * 2**{spec['exp']}")
    scale_name = model.make_new_valueinfo_name()
    model.set_initializer(scale_name, np.asarray(scale, dtype=np.float32))
    mul = helper.make_node("Mul", [gin, scale_name], [first.output[0]],
                           name="tinyicenet_input_scale")
    idx = list(model.graph.node).index(first)
    model.graph.node.remove(first)
    model.graph.node.insert(idx, mul)
    model.set_tensor_datatype(gin, DataType[f"INT{bits}"])
    return model.transform(InferShapes())


def _fixed_point(model, transforms, limit=12):
    """Apply ``transforms`` in order until the graph stops changing (at most ``limit`` rounds)."""
    from qonnx.transformation.general import GiveReadableTensorNames, GiveUniqueNodeNames
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    for _ in range(limit):
        before = model.model.SerializeToString()
        for trn in transforms:
            model = model.transform(trn)
            model = model.transform(InferShapes()).transform(InferDataTypes())
        model = model.transform(GiveUniqueNodeNames()).transform(GiveReadableTensorNames())
        if model.model.SerializeToString() == before:
            return model
    return model


def step_tinyicenet_streamline(model, cfg):
    """Streamlining past the U-Net's forks and concatenations: a fixed sequence of FINN's own
    transforms (FINN's step_streamline cannot move the scales past the skip forks and the
    concats; FINN+'s StreamlinePlus did not terminate on this graph)."""
    import finn.transformation.streamline.absorb as absorb
    import finn.transformation.streamline.reorder as reorder
    from finn.transformation.streamline import Streamline
    from qonnx.transformation.general import RemoveUnusedTensors
    from qonnx.transformation.infer_data_layouts import InferDataLayouts
    from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul
    from qonnx.transformation.remove import RemoveIdentityOps

    model = model.transform(absorb.AbsorbScalarBiasIntoMultiThreshold())
    model = _fixed_point(model, [
        Streamline(), reorder.MoveMulPastFork(), reorder.MoveAddPastFork(),
        reorder.MoveMulPastJoinConcat(), reorder.MoveAddPastJoinConcat(),
        reorder.MoveMulPastMaxPool(), reorder.MoveScalarLinearPastInvariants(),
        RemoveIdentityOps()])
    model = model.transform(LowerConvsToMatMul())
    model = _fixed_point(model, [
        reorder.MakeMaxPoolNHWC(), reorder.MakeScaleResizeNHWC(),
        absorb.AbsorbTransposeIntoMultiThreshold(), reorder.MoveTransposePastFork(),
        reorder.MoveTransposePastJoinConcat(), absorb.AbsorbConsecutiveTransposes(),
        Streamline(), RemoveIdentityOps()])
    model = model.transform(InferDataLayouts()).transform(RemoveUnusedTensors())
    return model


def step_tinyicenet_round_half_even(model, cfg):
    """Make FINN's thresholds reproduce Brevitas' round-half-to-even (never silently).

    A MultiThreshold counts thresholds ``t`` with ``x >= t``: level ``k`` opens at the first
    integer at or above ``(k - 1/2)`` in accumulator units, i.e. halves round *up*. Brevitas and
    QONNX round halves to the *even* neighbour, and ConvertQONNXtoFINN ignores the Quant node's
    ``rounding_mode``. The inputs of every threshold here are integers, so a tie exists exactly
    where a threshold is an integer; a threshold that opens an odd output level there must be
    strict (``x > t``, i.e. ``x >= t + 1``). This must run on the streamlined float thresholds,
    before FINN's RoundAndClipThresholds (which it then runs) rounds them up to integers.
    Counts the thresholds moved, per node.
    """
    import numpy as np
    from finn.transformation.streamline.round_thresholds import RoundAndClipThresholds
    from qonnx.custom_op.registry import getCustomOp

    if not JOB_SPEC.get("round_half_even", True):
        RUN["rounding_fix"] = {"disabled": True, "moved": 0}
        return model.transform(RoundAndClipThresholds())
    moved = {}
    for node in model.get_nodes_by_op_type("MultiThreshold"):
        inst = getCustomOp(node)
        dtype = model.get_tensor_datatype(node.input[0])
        if not dtype.is_integer():
            raise RuntimeError(f"{node.name}: thresholds on a non-integer input ({dtype}); "
                               "the half-to-even correction needs integer accumulators")
        thr = model.get_initializer(node.input[1]).astype(np.float64)
        bias = float(inst.get_nodeattr("out_bias"))
        levels = bias + np.arange(1, thr.shape[1] + 1)[None, :]  # level opened by each threshold
        odd = (np.abs(np.round(levels)) % 2 == 1)
        tie = thr == np.round(thr)
        fix = np.broadcast_to(odd, thr.shape) & tie
        moved[node.name] = int(fix.sum())
        model.set_initializer(node.input[1], (thr + fix).astype(np.float32))
    RUN["rounding_fix"] = {"rule": "thresholds opening an odd level at an integer (tie) made "
                                   "strict: t -> t + 1", "moved_per_node": moved,
                           "moved": sum(moved.values())}
    return model.transform(RoundAndClipThresholds())


def step_tinyicenet_host_io(model, cfg):
    """Layout and output scale on the host: the graph takes and returns NHWC integers.

    The leading NCHW -> NHWC Transpose and the trailing NHWC -> NCHW one are removed (the host
    writes and reads NHWC), and the trailing scalar Mul nodes at the output are removed with
    their product checked against 2**e_out, so the graph returns the head's integers.
    """
    import numpy as np
    from onnx import helper

    gin = model.graph.input[0]
    first = model.find_consumer(gin.name)
    if first is not None and first.op_type == "Transpose" and \
            list(helper.get_attribute_value(first.attribute[0])) == [0, 2, 3, 1]:
        nchw = model.get_tensor_shape(gin.name)
        model.graph.node.remove(first)
        dtype = model.get_tensor_datatype(gin.name)
        for other in model.graph.node:
            for i, name in enumerate(other.input):
                if name == first.output[0]:
                    other.input[i] = gin.name
        model.set_tensor_shape(gin.name, [nchw[0], nchw[2], nchw[3], nchw[1]])
        model.set_tensor_datatype(gin.name, dtype)
        model.set_tensor_layout(gin.name, ["N", "H", "W", "C"])
    out = model.graph.output[0].name
    scale = 1.0
    while True:
        node = model.find_producer(out)
        if node is None:
            break
        if node.op_type == "Mul":
            value = model.get_initializer(node.input[1])
            if value is None or value.size != 1:
                break
            scale *= float(value.reshape(-1)[0])
        elif not (node.op_type == "Transpose" and list(helper.get_attribute_value(
                node.attribute[0])) == [0, 3, 1, 2]):
            break
        src = node.input[0]
        shape = model.get_tensor_shape(src)
        model.graph.node.remove(node)
        for other in model.graph.node:  # the output keeps its name
            for i, name in enumerate(other.output):
                if name == src:
                    other.output[i] = out
        model.set_tensor_shape(out, shape)
    want = 2.0 ** JOB_SPEC["output"]["exp"]
    if not np.isclose(scale, want, rtol=0, atol=0):
        raise RuntimeError(f"output scale {scale} is not the head's 2**{JOB_SPEC['output']['exp']}")
    from qonnx.transformation.infer_data_layouts import InferDataLayouts
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    return model.transform(InferShapes()).transform(InferDataTypes()).transform(
        InferDataLayouts())


def step_tinyicenet_convert_to_hw(model, cfg):
    """FINN's step_convert_to_hw, then InferUpsample (the stock step only runs it when an
    ``Upsample`` node exists, so ONNX ``Resize`` stays unmapped), concat and fork layers."""
    from finn.builder.build_dataflow_steps import step_convert_to_hw
    from finn.transformation.fpgadataflow.convert_to_hw.concat import InferConcatLayer
    from finn.transformation.fpgadataflow.convert_to_hw.duplicate_streams import (
        InferDuplicateStreamsLayer)
    from finn.transformation.fpgadataflow.convert_to_hw.upsample import InferUpsample
    from qonnx.transformation.general import GiveUniqueNodeNames
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    model = step_convert_to_hw(model, cfg)
    for trn in (InferUpsample(), InferConcatLayer(), InferDuplicateStreamsLayer()):
        model = model.transform(trn).transform(InferShapes()).transform(InferDataTypes())
    model = model.transform(GiveUniqueNodeNames())
    left = sorted({n.op_type for n in model.graph.node
                   if not n.domain.startswith("finn.custom_op.fpgadataflow")})
    if left:
        raise RuntimeError("ops left outside the FINN hardware layers: " + ", ".join(left))
    return model


def step_tinyicenet_folding(model, cfg):
    """FINN's SetFolding for the target, plus the upsamplers, with FINN's two-pass relaxation.

    SetFolding has no rule for UpsampleNearestNeighbour (its SIMD stays at 1, and the relaxation
    then slows every layer to the upsampler's rate). The upsamplers are folded with SetFolding's
    own ``optimize_attribute_val``; the relaxation pass is then run here, upsamplers included.
    """
    from finn.transformation.fpgadataflow.set_folding import SetFolding
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.transformation.general import GiveUniqueNodeNames

    def fold(model, target):
        sf = SetFolding(target, mvau_wwidth_max=cfg.mvau_wwidth_max, two_pass_relaxation=False)
        model = model.transform(sf)
        for node in model.graph.node:
            if node.op_type.startswith("UpsampleNearestNeighbour"):
                inst = getCustomOp(node)
                sf.optimize_attribute_val(inst, int(inst.get_nodeattr("NumChannels")), "SIMD")
        return model

    def slowest(model):
        return max(int(getCustomOp(n).get_exp_cycles()) for n in model.graph.node)

    target = int(cfg._resolve_cycles_per_frame())
    model = fold(model, target)
    reached = slowest(model)
    if reached > target:  # FINN's two-pass relaxation: rebalance to the achievable rate
        model = fold(model, reached)
    model = model.transform(GiveUniqueNodeNames())
    RUN["folding"] = {
        "target_cycles": target, "max_cycles": slowest(model),
        "mvau_wwidth_max": cfg.mvau_wwidth_max,
        "nodes": {n.name: {k: int(getCustomOp(n).get_nodeattr(k)) for k in ("PE", "SIMD")
                           if _has_attr(getCustomOp(n), k)} for n in model.graph.node}}
    return model


def _has_attr(inst, name) -> bool:
    try:
        inst.get_nodeattr(name)
    except Exception:  # noqa: BLE001 - FINN raises AttributeError or a bare Exception
        return False
    return True


# ---------------------------------------------------------------------------------------------
# execution at each stage


def run_graph(model, tiles_nhwc):
    """Python execution of ``model`` on int tiles (N, H, W, C) -> outputs stacked on axis 0."""
    import numpy as np
    from finn.core.onnx_exec import execute_onnx

    iname, oname = model.graph.input[0].name, model.graph.output[0].name
    nhwc = model.get_tensor_shape(iname)[-1] == tiles_nhwc.shape[-1]
    outs = []
    for tile in tiles_nhwc:
        x = tile[None].astype(np.float32)
        x = x if nhwc else x.transpose(0, 3, 1, 2)
        outs.append(execute_onnx(model, {iname: x})[oname])
    return np.concatenate(outs, axis=0)


def to_nchw(y, channels):
    """Graph output (NCHW or NHWC) -> NCHW."""
    return y if y.shape[1] == channels else y.transpose(0, 3, 1, 2)


def verify(model, stage: str, tiles: dict) -> None:
    import numpy as np

    emit("verify", stage=stage)
    for name, arr in tiles.items():
        y = run_graph(model, arr.transpose(0, 2, 3, 1))
        y = to_nchw(y, JOB_SPEC["output"]["channels"])
        np.save(JOB / "outputs" / f"{stage}__{name}.npy", np.rint(y).astype(np.int32))


def cppsim_layers(hw_model, spec_model, tiles: dict, one_per_op: bool = False) -> None:
    """cppsim of every HLS layer, one by one, fed with the HW-layer graph's own tensors.

    Every node's inputs come from a python execution of the HW-layer graph (before
    SpecializeLayers) on each tile set; its cppsim output is compared with that execution's
    value of the same tensor. A layer whose C++ does not compile here is named, with the
    compiler's first error. ``one_per_op``: only the first layer of each op type (the rest are
    named as not run), to keep a test short.
    """
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    from finn.core.onnx_exec import execute_onnx
    from finn.transformation.fpgadataflow.prepare_cppsim import PrepareCppSim
    from finn.transformation.fpgadataflow.set_exec_mode import SetExecMode
    from qonnx.custom_op.registry import getCustomOp

    iname = hw_model.graph.input[0].name
    contexts = {name: [execute_onnx(hw_model, {iname: tile[None].astype(np.float32)},
                                    return_full_exec_context=True)
                       for tile in arr.transpose(0, 2, 3, 1)] for name, arr in tiles.items()}
    report, todo, seen = {}, [], set()
    for node in spec_model.graph.node:
        if not node.op_type.endswith("_hls"):
            report[node.name] = {"op": node.op_type, "cppsim": "not an HLS layer (RTL: needs "
                                 "rtlsim, i.e. Vivado's simulator)"}
        elif one_per_op and node.op_type in seen:
            report[node.name] = {"op": node.op_type, "cppsim": "not run (one layer per op type "
                                 "requested)"}
        else:
            seen.add(node.op_type)
            single = _single_node_model(spec_model, node)
            single = single.transform(SetExecMode("cppsim")).transform(PrepareCppSim())
            todo.append((node, single))

    hlslib = Path(os.environ["FINN_DEPS"]) / "finn-hlslib"

    def compile_one(item):
        node, single = item
        if not hlslib.is_dir():
            return node, single, False
        inst = getCustomOp(single.graph.node[0])
        try:
            inst.compile_singlenode_code()
        except Exception:  # noqa: BLE001 - reported below from the compiler's own output
            pass
        exe = inst.get_nodeattr("executable_path")
        return node, single, bool(exe) and os.path.isfile(exe)

    emit("cppsim", node=f"compiling {len(todo)} HLS layers")
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        compiled = list(pool.map(compile_one, todo))
    for node, single, ok in compiled:
        if not ok:
            report[node.name] = {"op": node.op_type, "cppsim": "does not compile here",
                                 "error": _compile_error(single.graph.node[0])
                                 if hlslib.is_dir() else f"no finn-hlslib at {hlslib} "
                                 "(set FINN_DEPS, or run `finn deps update`)"}
            continue
        emit("cppsim", node=node.name)
        diffs = {}
        for name, ctxs in contexts.items():
            values = differing = 0
            for ctx in ctxs:
                feed = {i: ctx[i] for i in node.input if spec_model.get_initializer(i) is None}
                out = execute_onnx(single, feed)
                for o in node.output:
                    got, want = np.asarray(out[o]).reshape(-1), np.asarray(ctx[o]).reshape(-1)
                    values += int(want.size)
                    differing += int((got != want).sum()) if got.size == want.size else \
                        int(want.size)
            diffs[name] = {"values": values, "differing": differing}
        report[node.name] = {"op": node.op_type, "cppsim": "ran", "vs_hw_python": diffs}
    RUN["cppsim"] = report


def _single_node_model(model, node):
    from onnx import helper
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    inits = [i for i in node.input if model.get_initializer(i) is not None]
    ins = [model.get_tensor_valueinfo(i) for i in node.input if i not in inits]
    outs = [model.get_tensor_valueinfo(o) for o in node.output]
    graph = helper.make_graph([node], "single", ins, outs)
    single = ModelWrapper(qonnx_make_model(graph))
    for i in inits:
        single.set_initializer(i, model.get_initializer(i))
    for t in list(node.input) + list(node.output):
        single.set_tensor_datatype(t, model.get_tensor_datatype(t))
    return single


def _compile_error(node) -> str:
    """The compiler's first error line for a node whose cppsim build failed."""
    import subprocess

    from qonnx.custom_op.registry import getCustomOp

    gen = getCustomOp(node).get_nodeattr("code_gen_dir_cppsim")
    script = Path(gen) / "compile.sh" if gen else None
    if script is None or not script.is_file():
        return "no compile script was generated"
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, cwd=gen)
    for line in proc.stderr.splitlines():
        if "error" in line:
            return line.strip().replace(str(Path(gen)) + "/", "")[:300]
    return (proc.stderr.strip().splitlines() or ["unknown compiler failure"])[-1][:300]


# ---------------------------------------------------------------------------------------------

JOB_SPEC: dict = {}
RUN: dict = {"steps": [], "stopped_before": []}
#: steps after step_hw_codegen and the AMD tool each needs
TOOL_STEPS = [("step_hw_ipgen", "vitis_hls"), ("step_set_fifo_depths", "vivado"),
              ("step_create_stitched_ip", "vivado"), ("step_synthesize_bitfile", "vivado"),
              ("step_make_driver", "vivado"), ("step_deployment_package", "vivado")]


def main(job_dir: str) -> int:
    import numpy as np

    global JOB, JOB_SPEC
    JOB = Path(job_dir).resolve()
    JOB_SPEC = json.loads((JOB / "job.json").read_text())
    build = JOB / "build"
    build.mkdir(exist_ok=True)
    (JOB / "outputs").mkdir(exist_ok=True)
    os.environ["FINN_DEPS"] = JOB_SPEC["finn_deps"] or str(build / "finn_deps")
    os.environ["XILINX_HLS"] = str(fake_xilinx_hls(JOB / "xilinx_hls_stub"))
    emit("start", steps=17 + bool(JOB_SPEC["cppsim"]) + len(JOB_SPEC.get("sweep_fps") or []))
    import_finn(build)
    from finn.builder import build_dataflow_steps as fs
    from finn.builder.build_dataflow_config import DataflowBuildConfig
    from finn.util.settings import get_settings
    from qonnx.core.modelwrapper import ModelWrapper

    get_settings().finn_deps = os.environ["FINN_DEPS"]
    # the cppsim build line has -I$FINN_CUSTOM_HLS: unset, it swallows the next -I
    os.environ.setdefault("FINN_CUSTOM_HLS", str(get_settings().finn_custom_hls))
    cfg = DataflowBuildConfig(
        output_dir=str(build), synth_clk_period_ns=JOB_SPEC["clk_ns"],
        fpga_part=JOB_SPEC["part"], target_fps=JOB_SPEC["target_fps"],
        mvau_wwidth_max=JOB_SPEC["mvau_wwidth_max"], generate_outputs=["estimate_reports"],
        folding_two_pass_relaxation=True)
    (build / "report").mkdir(parents=True, exist_ok=True)
    (build / "intermediate_models").mkdir(parents=True, exist_ok=True)
    tiles = {name: np.load(JOB / f"tiles_{name}.npy") for name in JOB_SPEC["tile_sets"]}
    model = ModelWrapper(str(JOB / "model.qonnx.onnx"))
    steps = [
        ("step_tinyicenet_prepare", step_tinyicenet_prepare),
        ("step_qonnx_to_finn", fs.step_qonnx_to_finn),
        ("step_tidy_up", fs.step_tidy_up),
        ("step_tinyicenet_streamline", step_tinyicenet_streamline),
        ("step_tinyicenet_round_half_even", step_tinyicenet_round_half_even),
        ("step_tinyicenet_host_io", step_tinyicenet_host_io),
        ("verify:streamlined", None),
        ("step_tinyicenet_convert_to_hw", step_tinyicenet_convert_to_hw),
        ("step_minimize_bit_width_initial", fs.step_minimize_bit_width_initial),
        ("verify:hw_layers", None),
        ("step_create_dataflow_partition", fs.step_create_dataflow_partition),
        ("step_specialize_layers", fs.step_specialize_layers),
        ("step_tinyicenet_folding", step_tinyicenet_folding),
        ("step_minimize_bit_width", fs.step_minimize_bit_width),
        ("step_generate_estimate_reports", fs.step_generate_estimate_reports),
        ("step_hw_codegen", fs.step_hw_codegen),
    ]
    hw_model = specialized = None
    for name, func in steps:
        emit("step", name=name)
        t0 = time.perf_counter()
        if func is None:
            stage = name.split(":", 1)[1]
            verify(model, stage, tiles)
            if stage == "hw_layers":
                hw_model = model
        else:
            before = len(model.graph.node)
            model = func(model, cfg)
            if name == "step_create_dataflow_partition" and len(model.graph.node) != before:
                raise RuntimeError(f"the dataflow partition holds {len(model.graph.node)} of "
                                   f"the {before} HW layers (some run outside it)")
            if name == "step_specialize_layers":
                specialized = copy.deepcopy(model)
            model.save(str(build / "intermediate_models" / f"{name}.onnx"))
        RUN["steps"].append({"name": name, "seconds": round(time.perf_counter() - t0, 2)})
    for fps in JOB_SPEC.get("sweep_fps") or []:
        emit("step", name=f"sweep {fps:g} fps")
        sweep_estimates(specialized, cfg, fps, build / "sweep" / f"fps_{fps:g}")
    if JOB_SPEC["cppsim"]:
        emit("step", name="cppsim")
        t0 = time.perf_counter()
        small = {k: v[: JOB_SPEC["cppsim_tiles"]] for k, v in tiles.items()}
        cppsim_layers(hw_model, model, small, one_per_op=JOB_SPEC.get("cppsim_one_per_op", False))
        RUN["steps"].append({"name": "cppsim", "seconds": round(time.perf_counter() - t0, 2)})
    for step, tool in TOOL_STEPS:
        if shutil.which(tool) is None:
            RUN["stopped_before"].append({"step": step, "needs": tool})
    if len(RUN["stopped_before"]) < len(TOOL_STEPS):  # pragma: no cover - needs AMD tools
        RUN["stopped_before"] = [{"step": s, "needs": t, "note": "tools found but this flow "
                                  "stops at step_hw_codegen; run FINN's builder on "
                                  "build/intermediate_models/step_hw_codegen.onnx"}
                                 for s, t in TOOL_STEPS]
    model.save(str(build / "tinyicenet_final.onnx"))
    (JOB / "runner.json").write_text(json.dumps(RUN, indent=1) + "\n")
    emit("done")
    return 0


def sweep_estimates(model, cfg, fps: float, out: Path) -> None:
    """FINN's folding and estimate reports for another target fps, into ``out/report``."""
    from finn.builder import build_dataflow_steps as fs

    sub = copy.deepcopy(cfg)
    sub.output_dir = str(out)
    sub.target_fps = fps
    (out / "report").mkdir(parents=True, exist_ok=True)
    saved = RUN.get("folding")
    model = step_tinyicenet_folding(copy.deepcopy(model), sub)
    model = fs.step_minimize_bit_width(model, sub)
    fs.step_generate_estimate_reports(model, sub)
    (out / "report" / "tinyicenet_folding.json").write_text(json.dumps(RUN["folding"], indent=1))
    RUN["folding"] = saved



if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1]))
    except Exception as exc:  # noqa: BLE001 - one line for the host, the trace in a file
        Path(sys.argv[1], "runner_error.txt").write_text(traceback.format_exc())
        first = (str(exc).strip().splitlines() or [""])[0]
        emit("error", message=f"{type(exc).__name__}: {first}")
        sys.exit(1)
