"""FINN as the second FPGA path: generate its build inputs for the ZCU102 (not run here).

Public API::

    hw_layers(qonnx_model, conv_names) -> list[HwLayer]     # the FINN layers of the graph
    plan_folding(layers, target_fps, clk_ns) -> dict        # PE/SIMD per layer + estimate
    write_finn_inputs(model, out, tile=256, target_fps=200) # model.onnx, folding, build config

FINN is not installable from PyPI; the generated folder is built in FINN's own Docker
environment (see the README it contains). Nothing here imports FINN.
"""

from tinyicenet.finn.folding import plan_folding
from tinyicenet.finn.inputs import build_config, write_finn_inputs
from tinyicenet.finn.layers import HwLayer, hw_layers

__all__ = ["HwLayer", "build_config", "hw_layers", "plan_folding", "write_finn_inputs"]
