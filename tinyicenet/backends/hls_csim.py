"""``hls_csim`` backend: the C simulation of a generated hls4ml project (``tinyicenet hls``).

The artefact is a project folder; tiles must have the project's tile size (the design is built
for one). Returns the head's fixed-point outputs as float32 logits (``codes * 2**exp``), equal to
the integer reference value for value (the project was verified so when it was built).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from tinyicenet.backends import Backend
from tinyicenet.errors import ConfigError


class HlsCSimBackend(Backend):
    """Run tiles through a project's C-simulation library (g++ build of the hls4ml C++).

    Options: ``workers`` (processes running tiles in parallel; the library is single-threaded).
    """

    name = "hls_csim"
    device = "cpu (C simulation of the FPGA design)"

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        import shutil

        if shutil.which("g++") is None:
            return False, "g++ not found (needed to build a project's C simulation)"
        return True, ""

    def __init__(self, artefact: Any, *, workers: int = 1) -> None:
        from tinyicenet.hls.csim import CSimModel

        if not isinstance(artefact, (str, os.PathLike)):
            raise ConfigError("hls_csim backend: the artefact must be a project folder written by "
                              f"`tinyicenet hls`, not {type(artefact).__name__}")
        if int(workers) < 1:
            raise ConfigError(f"hls_csim backend: workers must be >= 1, got {workers}")
        self.csim = CSimModel(artefact)
        self.workers = int(workers)
        m = self.csim.manifest["model"]
        bits = m.get("bit_widths") or {}
        from tinyicenet.models.precision import precision_label
        self.precision = precision_label(bits) + "-hls"
        self.in_channels = self.csim.in_channels
        self.stride = int(m.get("stride", 1))
        self.tile = self.csim.tile
        self.model_name = m.get("name", "")

    def run_codes(self, tiles: np.ndarray) -> np.ndarray:
        """Head integer codes (int32), for bit-exact comparisons."""
        return self.csim.run_codes(tiles, self.workers)

    def _run(self, tiles: np.ndarray) -> np.ndarray:
        return self.csim.run(tiles, self.workers)
