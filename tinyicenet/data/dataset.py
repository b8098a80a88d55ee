"""The AI4Arctic Sea Ice Challenge dataset, TorchGeo style.

``AI4ArcticDataset(root)`` reads a folder of scene files unchanged: the ready-to-train release
(``*_prep.nc``, 80 m, label rasters), the raw release (``*.nc``, 40 m, ice-chart polygons converted
with the dominance rule) or generated scenes in the same layout. One item is one whole scene at
the working resolution; :meth:`AI4ArcticDataset.patches` gives random training patches and
:mod:`tinyicenet.data.tiling` cuts whole scenes into halo tiles for inference.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from tinyicenet.data import layout as L
from tinyicenet.data.reader import scene_files
from tinyicenet.errors import DataError


class DatasetNotFoundError(DataError):
    """No scene files where the dataset was asked to look; the message says what to do."""


class AI4ArcticDataset:
    """AI4Arctic scenes from ``root`` (or ``root/split``), one whole scene per item.

    Args:
        root: folder with the scene files.
        split: optional sub-folder (``"train"``, ``"test"``).
        variables: input variables (default HH and HV; any of the 24 AutoICE inputs).
        charts: charts to return (``"SOD"``, ``"SIC"``, ``"FLOE"``); ``()`` for unlabelled scenes.
        downsample: integer factor to the working resolution (default 5: 80 m -> 400 m);
            None picks it per file to reach 400 m (mixed raw 40 m and RTT 80 m folders).
        transforms: callable applied to each sample dict (TorchGeo convention).
        cache: keep loaded scenes in memory (a 5000 x 5000 scene at x5 is ~10 MB for HH+HV).
        label_resampling, normalise, stats, upsampling, threshold: see
            :func:`tinyicenet.data.load_scene`.
    """

    #: facts of the release, for users and for the error message
    url = "https://doi.org/10.11583/DTU.c.6244065"
    licence = "CC-BY-4.0"
    splits = ("train", "test")

    def __init__(self, root: str | os.PathLike[str] = "data", split: str | None = None,
                 variables: Sequence[str] = L.DEFAULT_VARIABLES, charts: Sequence[str] = ("SOD",),
                 downsample: int | None = L.DEFAULT_DOWNSAMPLE,
                 transforms: Callable[[dict], dict] | None = None, cache: bool = True,
                 label_resampling: str = "mode", normalise: bool = True,
                 stats: Mapping[str, tuple[float, float]] | None = None,
                 upsampling: str = "nearest", threshold: float | Mapping[str, float] | None = None):
        self.root = Path(root)
        self.split = split
        if split is not None and split not in self.splits:
            raise DataError(f"unknown split {split!r}: choose from {', '.join(self.splits)}")
        folder = self.root / split if split else self.root
        self.variables, self.charts = tuple(variables), tuple(charts)
        self.downsample = downsample if downsample is None else int(downsample)
        self.transforms = transforms
        self.cache = cache
        self.options = dict(label_resampling=label_resampling, normalise=normalise, stats=stats,
                            upsampling=upsampling, threshold=threshold)
        self.files = self._verify(folder)
        self._scenes: dict[int, dict] = {}

    def _verify(self, folder: Path) -> list[Path]:
        files = scene_files(folder) if folder.is_dir() else []
        if not files:
            raise DatasetNotFoundError(
                f"{folder}: no AI4Arctic scene files (*.nc); download the ready-to-train release "
                f"({self.url}, see data/ai4arctic/README.md) into it, or generate sample scenes "
                f"with `tinyicenet data synth --out {folder} --scenes 3 --size 1000 1000`")
        return files

    def __len__(self) -> int:
        return len(self.files)

    def scene(self, index: int) -> dict:
        """The loaded scene ``index`` as numpy arrays (see :func:`load_scene`), cached."""
        from tinyicenet.data.scene import load_scene

        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        if index in self._scenes:
            return self._scenes[index]
        scene = load_scene(self.files[index], self.variables, self.charts, self.downsample,
                           **self.options)
        if self.cache:
            self._scenes[index] = scene
        return scene

    def __getitem__(self, index: int) -> dict:
        """Scene ``index`` as a sample: ``image`` float32 [C, H, W], ``valid`` bool [H, W], one
        int64 [H, W] tensor per chart (255 = ignore) and ``meta``.

        With charts, ``mask`` is the first chart's tensor itself (TorchGeo's segmentation key:
        a LongTensor [H, W]), so TorchGeo and kornia tools that read ``image``/``mask`` take the
        sample as it is. A transform that replaces ``mask`` leaves the chart key as it was.
        """
        import torch

        scene = self.scene(index)
        sample = {"image": torch.from_numpy(scene["image"]),
                  "valid": torch.from_numpy(scene["valid"]), "meta": scene["meta"]}
        for c in self.charts:
            sample[c] = torch.from_numpy(scene[c].astype(np.int64))
        if self.charts:
            sample["mask"] = sample[self.charts[0]]
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def patches(self, patch_size: int = 256, length: int = 4000, seed: int = 0,
                min_valid_labels: int = 2, lazy: bool = False,
                transforms: Callable[[dict], dict] | None = None):
        """Random training patches (a :class:`~tinyicenet.data.patches.RandomPatches`, drawn by
        the training sampler :class:`~tinyicenet.data.patches.PatchSampler`).

        ``lazy=False`` loads every scene once into memory (fast sampling); ``lazy=True`` reads
        each patch's window from its file (no image held in memory; each scene's labels are
        read once to count them).
        """
        from tinyicenet.data.patches import LazyScene, RandomPatches

        if lazy:
            opts = {k: v for k, v in self.options.items()}
            opts["normalise_inputs"] = opts.pop("normalise")
            sources = [LazyScene(p, self.variables, self.charts, self.downsample, **opts)
                       for p in self.files]
        else:
            sources = [self.scene(i) for i in range(len(self))]
        return RandomPatches(sources, patch_size, length, self.charts, seed, min_valid_labels,
                             transforms)

    def plot(self, sample: dict, **kwargs):
        """A figure of HH, HV and the charts of ``sample`` (see :func:`tinyicenet.data.plot`)."""
        from tinyicenet.data.plotting import plot

        return plot(sample, variables=self.variables, **kwargs)

    def __repr__(self) -> str:
        return (f"AI4ArcticDataset(root={str(self.root)!r}, split={self.split!r}, "
                f"scenes={len(self)}, variables={list(self.variables)}, "
                f"charts={list(self.charts)}, downsample={self.downsample})")
