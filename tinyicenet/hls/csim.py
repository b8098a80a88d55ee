"""Load a generated project's C simulation and run tiles through it (ctypes, no hls4ml needed).

The library is the one :mod:`tinyicenet.hls.csim_build` compiled (``<project>_float`` takes float
pixels NHWC and returns float outputs NHWC: the fixed-point values the hardware computes, converted
to float exactly). If the library is missing (a copied project, a cleaned build) it is rebuilt with
g++ on first load.
"""

from __future__ import annotations

import ctypes
import json
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import numpy.ctypeslib as npc

from tinyicenet.errors import DataError, ExportError
from tinyicenet.export.qgraph import FixedPoint

MANIFEST = "tinyicenet_project.json"
FORMAT = "tinyicenet-hls-project"
VERSION = 1


def read_manifest(project_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The project manifest, or ExportError naming the folder."""
    path = Path(project_dir) / MANIFEST
    if not path.is_file():
        raise ExportError(f"{project_dir}: not a tinyicenet HLS project ({MANIFEST} missing)")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path}: unreadable project manifest ({exc})") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise ExportError(f"{path}: not a version-{VERSION} {FORMAT} manifest")
    return manifest


class CSimModel:
    """The C simulation of a generated project.

    ``run(tiles)`` takes float32 ``[N, C, H, W]`` tiles (the model's input, NCHW like every
    backend) and returns float32 logits ``[N, K, H, W]``; ``run_codes`` returns the head's
    integer codes (int32), comparable with the integer reference bit for bit.
    """

    def __init__(self, project_dir: str | os.PathLike[str], *, build: bool = True) -> None:
        self.project_dir = Path(project_dir).resolve()
        m = read_manifest(self.project_dir)
        self.manifest = m
        self.project_name = m["project_name"]
        self.tile = int(m["tile"])
        self.in_channels = int(m["input"]["channels"])
        self.classes = int(m["output"]["channels"])
        self.input_format = FixedPoint(**m["input"]["format"])
        self.output_format = FixedPoint(**m["output"]["format"])
        self.library = self.project_dir / m["library"]
        weights = self.project_dir / "firmware" / "weights"
        if not weights.is_dir():
            # the library would exit() the whole process when a weights file is missing
            raise ExportError(f"{self.project_dir}: firmware/weights is missing")
        if not self.library.is_file():
            if not build:
                raise ExportError(f"{self.library}: C-simulation library not built")
            from tinyicenet.hls.csim_build import compile_library

            compile_library(self.project_dir, self.project_name, m["stamp"])
        self._lib = ctypes.CDLL(str(self.library))
        fn = getattr(self._lib, f"{self.project_name}_float", None)
        if fn is None:
            raise ExportError(f"{self.library}: no function {self.project_name}_float")
        fn.restype = None
        fn.argtypes = [npc.ndpointer(ctypes.c_float, flags="C_CONTIGUOUS")] * 2
        self._fn = fn

    @property
    def in_size(self) -> int:
        return self.tile * self.tile * self.in_channels

    @property
    def out_size(self) -> int:
        return self.tile * self.tile * self.classes

    def predict_nhwc(self, x: np.ndarray) -> np.ndarray:
        """Float32 ``[N, H, W, C]`` -> float32 ``[N, H, W, K]`` (one C-simulation call per tile)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 4 or x.shape[1:] != (self.tile, self.tile, self.in_channels):
            raise DataError(f"C simulation takes tiles of {self.tile}x{self.tile}x"
                            f"{self.in_channels} (NHWC), got {list(x.shape)}")
        out = np.empty((len(x), self.tile, self.tile, self.classes), dtype=np.float32)
        for i in range(len(x)):
            buf = np.zeros(self.out_size, dtype=np.float32)
            self._fn(np.ascontiguousarray(x[i].reshape(-1)), buf)
            out[i] = buf.reshape(self.tile, self.tile, self.classes)
        return out

    def _check(self, tiles: np.ndarray) -> np.ndarray:
        tiles = np.asarray(tiles)
        if tiles.ndim != 4 or tiles.shape[1:] != (self.in_channels, self.tile, self.tile):
            raise DataError(f"C simulation of {self.project_dir.name} takes tiles "
                            f"[N, {self.in_channels}, {self.tile}, {self.tile}], got "
                            f"{list(tiles.shape)}")
        if not np.isfinite(tiles).all():
            raise DataError("tiles contain NaN or infinite values")
        return tiles.astype(np.float32, copy=False)

    def run(self, tiles: np.ndarray, workers: int = 1) -> np.ndarray:
        """Float32 tiles ``[N, C, H, W]`` -> float32 logits ``[N, K, H, W]``."""
        tiles = self._check(tiles)
        nhwc = np.ascontiguousarray(tiles.transpose(0, 2, 3, 1))
        if workers > 1 and len(tiles) > 1:
            chunks = np.array_split(nhwc, min(workers, len(tiles)))
            with ProcessPoolExecutor(len(chunks), mp_context=get_context("fork")) as pool:
                parts = list(pool.map(_worker_predict, [str(self.project_dir)] * len(chunks),
                                      chunks))
            out = np.concatenate(parts)
        else:
            out = self.predict_nhwc(nhwc)
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2))

    def run_codes(self, tiles: np.ndarray, workers: int = 1) -> np.ndarray:
        """Head integer codes (int32 ``[N, K, H, W]``) of the C simulation."""
        logits = self.run(tiles, workers)
        codes = logits.astype(np.float64) / 2.0 ** self.output_format.exponent
        rounded = np.rint(codes)
        if not np.array_equal(rounded, codes):
            raise ExportError("C-simulation outputs are not on the output quantizer's grid "
                              f"2**{self.output_format.exponent}")
        return rounded.astype(np.int32)


def _worker_predict(project_dir: str, chunk: np.ndarray) -> np.ndarray:
    return CSimModel(project_dir, build=False).predict_nhwc(chunk)


def load_project(project_dir: str | os.PathLike[str]) -> CSimModel:
    """Load a project written by :func:`tinyicenet.hls.build_project` for C simulation."""
    return CSimModel(project_dir)
