"""Random training patches from scenes held in memory or read lazily from their files.

The AutoICE recipe: pick a random scene, a random ``P x P`` window, and reject the window when it
has at most one labelled pixel (``min_valid_labels = 2``), then draw again. Sampling is a pure
function of ``(seed, epoch, index)``, so it is reproducible and identical across DataLoader
workers; call :meth:`RandomPatches.set_epoch` to draw new patches each epoch.

Two scene sources share one interface (``shape`` and ``window(row, col, h, w)`` at the working
resolution): :class:`MemoryScene` wraps a loaded scene (fast; MMSeaIce holds downsampled scenes
in memory the same way) and :class:`LazyScene` reads each window from the NetCDF file (no memory
cost; slower).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from tinyicenet.data import layout as L
from tinyicenet.errors import DataError


class MemoryScene:
    """A loaded scene dict (see :func:`tinyicenet.data.load_scene`) as a patch source."""

    def __init__(self, scene: dict):
        self.scene = scene
        self.shape = tuple(scene["valid"].shape)
        self.name = scene.get("meta", {}).get("scene_id", "scene")

    def window(self, row: int, col: int, h: int, w: int, charts: Sequence[str]) -> dict:
        s = self.scene
        out = {"image": s["image"][:, row:row + h, col:col + w],
               "valid": s["valid"][row:row + h, col:col + w]}
        for c in charts:
            if c not in s:
                raise DataError(f"{self.name}: chart {c} was not loaded")
            out[c] = s[c][row:row + h, col:col + w]
        return out


class LazyScene:
    """A scene file read window by window at the working resolution (opened once per process)."""

    def __init__(self, path: str | os.PathLike[str], variables: Sequence[str] = L.DEFAULT_VARIABLES,
                 charts: Sequence[str] = ("SOD",), downsample: int | None = L.DEFAULT_DOWNSAMPLE,
                 **read_options):
        from tinyicenet.data.reader import SceneReader
        from tinyicenet.data.scene import _factor

        self.path = str(path)
        self.variables, self.charts = tuple(variables), tuple(charts)
        from tinyicenet.data.scene import decide_scaling

        self.options = dict(read_options)
        requested = self.options.pop("input_scaling", "auto")
        with SceneReader(self.path) as reader:
            self.downsample = _factor(downsample, reader)
            # decided once for the whole file here, never per window
            self.scaling, self.scaling_source = decide_scaling(reader, requested,
                                                               self.options.get("stats"))
            if self.options.get("normalise_inputs") == "auto":
                self.options["normalise_inputs"] = True
            full = reader.shape
            missing = [c for c in self.charts if c not in reader.charts]
            if missing:
                raise DataError(f"{self.path}: missing chart {missing[0]}")
        f = self.downsample
        self.shape = (-(-full[0] // f), -(-full[1] // f))
        self.name = os.path.basename(self.path)
        self._reader = None
        self._pid = None

    def _open(self):
        from tinyicenet.data.reader import SceneReader

        if self._reader is None or self._pid != os.getpid():  # not shared across forked workers
            self._reader = SceneReader(self.path)
            self._pid = os.getpid()
        return self._reader

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_reader"], state["_pid"] = None, None
        return state

    def window(self, row: int, col: int, h: int, w: int, charts: Sequence[str]) -> dict:
        from tinyicenet.data.scene import read_block

        f = self.downsample
        block = read_block(self._open(), self.variables, tuple(charts), f,
                           window=(slice(row * f, (row + h) * f), slice(col * f, (col + w) * f)),
                           scaling=self.scaling, **self.options)
        return block


def _pad(block: dict, h: int, w: int, charts: Sequence[str]) -> dict:
    """Pad a window cut at the scene edge to ``h x w`` (image 0, valid False, labels 255)."""
    bh, bw = block["valid"].shape
    if (bh, bw) == (h, w):
        return block
    ph, pw = h - bh, w - bw
    out = {"image": np.pad(block["image"], ((0, 0), (0, ph), (0, pw))),
           "valid": np.pad(block["valid"], ((0, ph), (0, pw)))}
    for c in charts:
        out[c] = np.pad(block[c], ((0, ph), (0, pw)), constant_values=L.LABEL_FILL)
    return out


def sample_patch(source, rng: np.random.Generator, size: int, charts: Sequence[str] = ("SOD",),
                 min_valid_labels: int = 2, max_tries: int = 1000) -> dict:
    """One random ``size x size`` window of ``source`` with >= ``min_valid_labels`` labelled
    pixels in at least one of ``charts`` (numpy arrays plus ``row``/``col`` of its origin)."""
    h, w = source.shape
    for _ in range(max_tries):
        row = int(rng.integers(0, max(h - size, 0) + 1))
        col = int(rng.integers(0, max(w - size, 0) + 1))
        block = _pad(source.window(row, col, size, size, charts), size, size, charts)
        if not charts or any(int((block[c] != L.LABEL_FILL).sum()) >= min_valid_labels
                             for c in charts):
            block["row"], block["col"] = row, col
            return block
    raise DataError(f"{source.name}: no {size} x {size} patch with >= {min_valid_labels} labelled "
                    f"pixels in {max_tries} tries (scene without labels?)")


class RandomPatches:
    """A torch-style map dataset of random patches (dicts of torch tensors).

    Each sample: ``image`` float32 ``[C, P, P]``, ``valid`` bool ``[P, P]`` and one int64
    ``[P, P]`` tensor per chart (255 = ignore). ``transforms`` (a callable on the sample dict)
    runs last, as in TorchGeo.
    """

    def __init__(self, sources: Sequence, patch_size: int = 256, length: int = 4000,
                 charts: Sequence[str] = ("SOD",), seed: int = 0, min_valid_labels: int = 2,
                 transforms: Callable[[dict], dict] | None = None, max_tries: int = 1000):
        self.sources = [MemoryScene(s) if isinstance(s, dict) else s for s in sources]
        if not self.sources:
            raise DataError("no scenes to draw patches from")
        if patch_size < 1 or length < 1:
            raise DataError(f"patch_size ({patch_size}) and length ({length}) must be >= 1")
        self.patch_size, self.length = int(patch_size), int(length)
        self.charts = tuple(charts)
        self.seed, self.epoch = int(seed), 0
        self.min_valid_labels, self.max_tries = int(min_valid_labels), int(max_tries)
        self.transforms = transforms
        # a scene without any labelled pixel can never yield a patch: leave it out up front
        if self.charts:
            keep = [s for s in self.sources if not isinstance(s, MemoryScene)
                    or any((s.scene[c] != L.LABEL_FILL).sum() >= self.min_valid_labels
                           for c in self.charts if c in s.scene)]
            if not keep:
                raise DataError("none of the scenes has labelled pixels for "
                                f"{', '.join(self.charts)}")
            self.sources = keep

    def set_epoch(self, epoch: int) -> None:
        """Draw a different (still reproducible) set of patches for ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def sample(self, index: int) -> dict:
        """The numpy patch of ``index`` (with ``scene`` index, ``row``, ``col``)."""
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        k = int(rng.integers(len(self.sources)))
        block = sample_patch(self.sources[k], rng, self.patch_size, self.charts,
                             self.min_valid_labels, self.max_tries)
        block["scene"] = k
        return block

    def __getitem__(self, index: int) -> dict:
        import torch

        block = self.sample(index)
        sample = {"image": torch.from_numpy(np.ascontiguousarray(block["image"], np.float32)),
                  "valid": torch.from_numpy(np.ascontiguousarray(block["valid"]))}
        for c in self.charts:
            sample[c] = torch.from_numpy(block[c].astype(np.int64))
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample
