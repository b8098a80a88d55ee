"""Custom GPU kernels for the integer TinyIceNet (Triton and CUDA C++, int8 tensor cores).

Public API::

    IntTinyIceNetGPU(intmodel, device="cuda", graphs=True,   # runner.py (CUDA + Triton; CuPy
                                                             # for gen6 - gen8's CUDA C++)
                     design=None, pdl=None, fused=False, wide=None)
        .forward_int(x) -> int8 head codes [N, K, H, W]; __call__(x) -> dequantised logits
    lower(from_intref(intmodel), design=None) -> Plan        # plan.py / adapt.py (numpy);
                                                             # designs gen1 .. gen8; the
                                                             # runner's "auto": resolve_design
    stage_traffic(plan, n, h, w)                             # traffic.py: work, bytes per stage
    network_traffic(plan, n, h, w)                           # traffic.py: gen8's one kernel
    run_plan(plan, x) -> int8 codes                          # emulate.py: the kernels' CPU twin
    float_twin(net), macs_per_image(net, h, w)               # float_twin.py (bench baselines)
    random_intmodel(...)                                     # synthetic.py (tests, speed runs)

The numpy modules import anywhere (``fragments`` packs and models the CUDA C++ halo conv,
``halo_conv.cu``; ``net_tile`` lays out, writes and models gen8's whole-network kernel,
``net_tile.cu``); Triton is imported only by ``triton_conv`` / ``runner``, CuPy only by
``cuda_halo`` when a gen6 - gen8 kernel is first launched.
Design, measurements and the reasons behind each version: ``bench/gpu_kernels_notes.md``.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "IntTinyIceNetGPU": "runner", "lower": "plan", "IntNet": "plan", "IntConv": "plan",
    "Plan": "plan", "from_intref": "adapt", "run_plan": "emulate", "float_twin": "float_twin",
    "macs_per_image": "float_twin", "random_intmodel": "synthetic",
    "stage_traffic": "traffic", "network_traffic": "traffic", "DESIGNS": "plan",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"tinyicenet.kernels.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'tinyicenet.kernels' has no attribute {name!r}")
