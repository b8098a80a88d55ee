"""Move the NCHW regions that qonnx leaves behind to NHWC and remove the layout transposes.

After qonnx's channels-last conversion a U-Net still has regions in NCHW: from an NHWC->NCHW
Transpose through Resize (upsample), Concat (skip join) and the activation quantizers between them,
to an NCHW->NHWC Transpose. hls4ml streams NHWC only. :class:`RemoveLayoutTransposes` finds each
such region, converts every op in it with the op's converter (Resize: scales; Concat: axis;
elementwise ops: nothing), bypasses the boundary transposes and re-labels the region's tensor
shapes. A region with any op that has no converter is left alone (the support check then names
the op). :class:`OutputToChannelsLast` drops the final NHWC->NCHW transpose so the graph output
is NHWC; the model is then marked with the graph metadata ``tinyicenet.output_layout = NHWC``.
"""

from __future__ import annotations

from collections.abc import Callable

from onnx import NodeProto
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation

from tinyicenet.hls.passes._layout import TO_NCHW, TO_NHWC, transpose_perm
from tinyicenet.hls.passes.concat_channels_last import can_concat_to_nhwc, concat_to_nhwc
from tinyicenet.hls.passes.resize_channels_last import can_resize_to_nhwc, resize_to_nhwc

OUTPUT_LAYOUT_KEY = "tinyicenet.output_layout"


def _noop(model: ModelWrapper, node: NodeProto) -> None:
    """Elementwise ops do not care about the layout."""


def _always(model: ModelWrapper, node: NodeProto) -> bool:
    return True


def _scalar_quant(model: ModelWrapper, node: NodeProto) -> bool:
    """A Quant whose scale/zero point are scalars is layout-free."""
    return all(model.get_initializer(name) is not None and model.get_initializer(name).size == 1
               for name in node.input[1:])


#: op type -> (can it run in NHWC?, convert it). Registry, not if-chains.
CONVERTERS: dict[str, tuple[Callable, Callable]] = {
    "Resize": (can_resize_to_nhwc, resize_to_nhwc),
    "Concat": (can_concat_to_nhwc, concat_to_nhwc),
    "Relu": (_always, _noop),
    "Identity": (_always, _noop),
    "Quant": (_scalar_quant, _noop),
}


def _data_inputs(node: NodeProto) -> list[str]:
    """The inputs of ``node`` that carry image tensors (not parameters)."""
    if node.op_type == "Concat":
        return list(node.input)
    return [node.input[0]] if node.input else []


def _region(model: ModelWrapper, start: NodeProto):
    """The NCHW region entered through Transpose ``start``: (entries, ops, exits) or None."""
    entries, ops, exits = {start.output[0]: start}, {}, {}  # keyed by output: names may be ''
    work_fwd = [start.output[0]]
    work_back: list[NodeProto] = []
    outputs = {o.name for o in model.graph.output}
    while work_fwd or work_back:
        while work_fwd:
            tensor = work_fwd.pop()
            if tensor in outputs:
                return None  # an NCHW graph output: OutputToChannelsLast's job
            for consumer in model.find_consumers(tensor):
                if transpose_perm(consumer) == TO_NHWC:
                    exits[consumer.output[0]] = consumer
                    continue
                if consumer.output[0] in ops:
                    continue
                rule = CONVERTERS.get(consumer.op_type)
                if rule is None or not rule[0](model, consumer) or tensor not in _data_inputs(
                        consumer):
                    return None
                ops[consumer.output[0]] = consumer
                work_fwd.append(consumer.output[0])
                work_back.append(consumer)
        while work_back:
            node = work_back.pop()
            for tensor in _data_inputs(node):
                producer = model.find_producer(tensor)
                if producer is None:
                    return None  # a graph input in NCHW: not produced by qonnx's conversion
                if producer.output[0] in ops or producer.output[0] in entries:
                    continue
                if transpose_perm(producer) == TO_NCHW:
                    entries[producer.output[0]] = producer
                    work_fwd.append(producer.output[0])
                    continue
                rule = CONVERTERS.get(producer.op_type)
                if rule is None or not rule[0](model, producer):
                    return None
                ops[producer.output[0]] = producer
                work_fwd.append(producer.output[0])
                work_back.append(producer)
    return list(entries.values()), list(ops.values()), list(exits.values())


def _rewire(model: ModelWrapper, old: str, new: str) -> None:
    for consumer in model.find_consumers(old):
        for i, name in enumerate(consumer.input):
            if name == old:
                consumer.input[i] = new


class RemoveLayoutTransposes(Transformation):
    """Convert each NCHW region between layout transposes to NHWC and bypass the transposes."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        for node in list(model.graph.node):
            if transpose_perm(node) != TO_NCHW:
                continue
            region = _region(model, node)
            if region is None:
                continue
            entries, ops, exits = region
            for op in ops:
                shape = model.get_tensor_shape(op.output[0])
                CONVERTERS[op.op_type][1](model, op)
                if shape is not None and len(shape) == 4:
                    model.set_tensor_shape(op.output[0], [shape[i] for i in TO_NHWC])
            for entry in entries:
                _rewire(model, entry.output[0], entry.input[0])
            for exit_ in exits:
                _rewire(model, exit_.output[0], exit_.input[0])
            for t in entries + exits:
                if t in model.graph.node:
                    model.graph.node.remove(t)
            return model, True  # the node list changed: let transform() call us again
        return model, False


class RemoveDeadTransposes(Transformation):
    """Delete Transpose nodes whose output nobody reads."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        outputs = {o.name for o in model.graph.output}
        dead = [n for n in model.graph.node if n.op_type == "Transpose"
                and n.output[0] not in outputs and not model.find_consumers(n.output[0])]
        for node in dead:
            model.graph.node.remove(node)
        return model, bool(dead)


class OutputToChannelsLast(Transformation):
    """Drop a final NHWC->NCHW Transpose so the graph output stays NHWC."""

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        changed = False
        for out in model.graph.output:
            producer = model.find_producer(out.name)
            if transpose_perm(producer) != TO_NCHW:
                continue
            source = producer.input[0]
            if len(model.find_consumers(source)) != 1:
                continue  # the NHWC tensor is also used inside the graph
            shape = model.get_tensor_shape(source)
            model.graph.node.remove(producer)
            # the graph output keeps its name: rename the NHWC tensor onto it
            for node in model.graph.node:
                for i, name in enumerate(node.output):
                    if name == source:
                        node.output[i] = out.name
            for v in [v for v in model.graph.value_info if v.name == source]:
                model.graph.value_info.remove(v)
            model.set_tensor_shape(out.name, shape)
            model.set_metadata_prop(OUTPUT_LAYOUT_KEY, "NHWC")
            changed = True
        return model, changed
