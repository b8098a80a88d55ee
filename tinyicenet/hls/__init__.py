"""The FPGA flow: QONNX -> hls4ml project, verified by C simulation against the integer reference.

Public API::

    build_project(model_or_ckpt, out_dir, *, board="zcu102", tile=None, settings=None,
                  n_random=2, scene=None, n_scene=2, seed=None, input_precision=None,
                  synth=False, quiet=True) -> ProjectResult
    load_project(project_dir) -> CSimModel      # .run(tiles NCHW float32) -> logits NCHW,
                                                # .run_codes(tiles) -> int32 head codes
    plan_project(model, board, settings, tile=None) -> (DesignPlan, [DesignPlan])
    load_board(name), load_settings(path=None)
    parse_csynth(path), parse_utilization(path), read_resources(project_dir)

Modules: :mod:`.passes` (graph preparation), :mod:`.patches` (hls4ml runtime fix),
:mod:`.quant_formats` / :mod:`.convert` (config from the quantizers), :mod:`.model` and
:mod:`.planner` (modelled resources, throughput, FIFO depths), :mod:`.csim_build` / :mod:`.csim`
(C simulation), :mod:`.verify` (report), :mod:`.reports` (vendor report parsers),
:mod:`.project` (the whole flow).
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "build_project": "project", "plan_project": "project", "read_resources": "project",
    "ProjectResult": "project",
    "load_project": "csim", "CSimModel": "csim", "read_manifest": "csim",
    "load_board": "board", "Board": "board",
    "load_settings": "settings", "HlsSettings": "settings",
    "parse_csynth": "reports", "parse_utilization": "reports",
    "VerificationReport": "verify",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"tinyicenet.hls.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'tinyicenet.hls' has no attribute {name!r}")
