"""FINN build of TinyIceNet for the ZCU102 (written by ``tinyicenet board finn``).

Run inside FINN's own environment (its Docker container), from a FINN checkout:

    ./run-docker.sh build_custom /path/to/this/folder

It reads model.onnx (cleaned QONNX), dataflow_build_config.json, folding_config.json,
specialize_layers.json and layer_map.json from this folder and writes output_*/ here.
NOT RUN by tinyicenet's developers or CI: FINN is not installable from PyPI. The steps below
follow FINN's documented builder; the U-Net layers (upsample, concat, duplicated skips) need
the extra conversions of ``step_tinyicenet_convert_to_hw``, and the folding is applied by layer
shape (``step_tinyicenet_folding``) so it does not depend on FINN's node numbering.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name):
    with open(os.path.join(HERE, name)) as handle:
        return json.load(handle)


def signature(op, attrs):
    """Shape signature of a FINN HW node from its attributes (op without _hls/_rtl suffix)."""
    def flat(v):
        return tuple(int(x) for x in (v if isinstance(v, (list, tuple)) else [v]))
    if op == "MVAU":
        return ("MVAU", int(attrs["MW"]), int(attrs["MH"]), flat(attrs["numInputVectors"]))
    if op == "ConvolutionInputGenerator":
        return (op, int(attrs["IFMChannels"]), flat(attrs["ConvKernelDim"]), flat(attrs["OFMDim"]))
    if op in ("FMPadding", "StreamingMaxPool"):
        return (op, int(attrs["NumChannels"]), flat(attrs["ImgDim"]))
    if op == "DuplicateStreams":
        return (op, int(attrs["NumChannels"]), flat(attrs["numInputVectors"]))
    if op == "StreamingConcat":
        return (op, flat(attrs["ChannelsPerStream"]))
    return (op,)


def layer_signature(row):
    """The same signature from a layer_map.json row (tinyicenet's prediction)."""
    op = row["op"]
    out_hw, in_hw = tuple(row["out_hw"]), tuple(row["in_hw"])
    if op == "MVAU":
        return ("MVAU", row["kernel"] ** 2 * row["channels"], row["out_channels"],
                (1,) + out_hw)
    if op == "ConvolutionInputGenerator":
        return (op, row["channels"], (row["kernel"], row["kernel"]), out_hw)
    if op == "FMPadding":
        return (op, row["channels"], in_hw)
    if op == "StreamingMaxPool":
        return (op, row["channels"], in_hw)
    if op == "DuplicateStreams":
        return (op, row["channels"], (1,) + in_hw)
    if op == "StreamingConcat":
        return (op, tuple(row["stream_channels"]))
    return (op,)


def match_folding(nodes, rows):
    """Assign each predicted layer's folding to the FINN node with the same shape signature.

    ``nodes``: ``(name, op, attrs)`` in graph order; ``rows``: layer_map.json layers. Returns
    ``{node name: folding attrs}``; raises ValueError naming what did not match.
    """
    pending = {}
    for row in rows:
        if row["folding"]:
            pending.setdefault(layer_signature(row), []).append(row)
    assigned = {}
    for name, op, attrs in nodes:
        sig = signature(op, attrs)
        if sig in pending and pending[sig]:
            assigned[name] = pending[sig].pop(0)["folding"]
    left = [row["finn_name"] + " " + str(sig) for sig, rs in pending.items() for row in rs]
    if left:
        raise ValueError("FINN graph has no node for predicted layer(s): " + "; ".join(left))
    return assigned


def main():  # pragma: no cover - needs FINN
    import finn.builder.build_dataflow as build
    import finn.builder.build_dataflow_config as build_cfg
    import finn.transformation.fpgadataflow.convert_to_hw_layers as to_hw
    from finn.builder.build_dataflow_steps import step_convert_to_hw
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.transformation.general import GiveUniqueNodeNames

    rows = _load("layer_map.json")["layers"]

    def step_tinyicenet_convert_to_hw(model, cfg):
        """FINN's conversion plus the U-Net's upsample, concat and duplicated streams."""
        model = step_convert_to_hw(model, cfg)
        model = model.transform(to_hw.InferUpsample())
        model = model.transform(to_hw.InferConcatLayer())
        model = model.transform(to_hw.InferDuplicateStreamsLayer())
        model = model.transform(GiveUniqueNodeNames())
        left = sorted({n.op_type for n in model.graph.node
                       if not n.domain.startswith("finn.custom_op.fpgadataflow")
                       and n.op_type not in ("Transpose", "Reshape")})
        if left:
            raise RuntimeError("tinyicenet: ops left outside the dataflow partition: "
                               + ", ".join(left) + " (streamlining did not absorb them)")
        return model

    def step_tinyicenet_folding(model, cfg):
        """Apply folding_config by layer shape, then check every value landed."""
        model = model.transform(GiveUniqueNodeNames())
        nodes = []
        for node in model.graph.node:
            inst = getCustomOp(node)
            base = node.op_type.replace("_hls", "").replace("_rtl", "")
            attrs = {a: inst.get_nodeattr(a) for a in ("MW", "MH", "numInputVectors",
                     "IFMChannels", "ConvKernelDim", "OFMDim", "NumChannels", "ImgDim",
                     "ChannelsPerStream") if _has_attr(inst, a)}
            nodes.append((node.name, base, attrs))
        for name, folding in match_folding(nodes, rows).items():
            inst = getCustomOp(model.get_node_from_name(name))
            for key, value in folding.items():
                inst.set_nodeattr(key, value)
        return model

    cfg_dict = _load("dataflow_build_config.json")
    cfg_dict.pop("folding_config_file", None)  # applied by shape instead of by node name
    cfg = build_cfg.DataflowBuildConfig.from_dict(cfg_dict)
    steps = list(build_cfg.default_build_dataflow_steps)
    steps[steps.index("step_convert_to_hw")] = step_tinyicenet_convert_to_hw
    steps.insert(steps.index("step_apply_folding_config") + 1, step_tinyicenet_folding)
    cfg.steps = steps
    return build.build_dataflow_cfg(os.path.join(HERE, "model.onnx"), cfg)


def _has_attr(inst, name):  # pragma: no cover - needs FINN
    try:
        inst.get_nodeattr(name)
        return True
    except (AttributeError, Exception):
        return False


if __name__ == "__main__":
    os.chdir(HERE)  # FINN resolves the config's relative paths from here
    sys.exit(main())
