"""Seeded random training patches: the one sampler, for training and for the dataset API.

:class:`PatchSampler` draws ``(scene, row, col)`` windows from a generator seeded by
``(seed, epoch, step)`` alone, so

* training is reproducible, and resuming at an epoch boundary replays exactly the same patches;
* under DDP every rank draws the same *global* batch of ``batch * world_size`` windows and keeps
  the slice ``rank::world_size`` (DistributedSampler's partitioning), so N processes with batch B
  see the same patches as one process with batch N * B.

Scenes are drawn in proportion to their labelled area and windows uniformly; a window whose
labelled pixels (any chart, counted from an integral image) are fewer than ``min_labelled`` of
the patch, or than ``min_labelled_pixels``, is redrawn, as the AutoICE starter kit rejects
nearly empty patches (it rejects windows with at most one labelled pixel). In-memory scenes are
padded to the patch once and cropped with one advanced-indexing gather per scene, which stays a
handful of kernels on a GPU.

A scene is a loaded scene dict (see :func:`tinyicenet.data.load_scene`), a :class:`MemoryScene`
or a :class:`LazyScene`, which reads each window from its NetCDF file (no image held in memory;
slower; its labelled mask is read once to count labels). :class:`RandomPatches` is the
torch-style map dataset over the same sampler: sample ``index`` of epoch ``e`` is the one window
drawn from ``(seed, e, index)``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tinyicenet.data import layout as L
from tinyicenet.data.scene import DataWarning
from tinyicenet.errors import DataError

_MAX_DRAWS = 64  # rounds of candidate windows before accepting the best found


def stream_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (numpy's SeedSequence hashing)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(2, dtype=np.uint64)[0] >> 1)


def generator(*parts: int) -> torch.Generator:
    """A torch generator seeded from ``parts`` (see :func:`stream_seed`)."""
    g = torch.Generator()
    g.manual_seed(stream_seed(*parts))
    return g


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

    def labelled(self, charts: Sequence[str]) -> np.ndarray:
        """``[H, W]`` bool: labelled in any of ``charts`` (the whole file read once)."""
        block = self.window(0, 0, *self.shape, charts)
        return np.stack([block[c] != L.LABEL_FILL for c in charts]).any(axis=0)

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


@dataclass
class _Scene:
    shape: tuple[int, int]       # padded to at least patch x patch
    labelled_sum: np.ndarray     # [H + 1, W + 1] integral image of "any chart labelled"
    image: torch.Tensor | None = None   # [C, H, W] float32 on the device (in memory)
    labels: torch.Tensor | None = None  # [K, H, W] uint8 on the device (255 = ignore)
    valid: torch.Tensor | None = None   # [H, W] bool on the device (``keep_valid``)
    lazy: LazyScene | None = None       # or: windows read from the file


def _integral(labelled: np.ndarray) -> np.ndarray:
    integral = np.zeros((labelled.shape[0] + 1, labelled.shape[1] + 1), dtype=np.int64)
    integral[1:, 1:] = labelled.cumsum(0).cumsum(1)
    return integral


def _scene_name(scene: dict) -> str:
    return scene.get("meta", {}).get("scene_id", "scene")


class PatchSampler:
    """Draws batches of patches from scenes (see module doc).

    ``min_labelled`` is the fraction of the patch that must be labelled (training's test; the
    best windows found are taken when a scene has too few), ``min_labelled_pixels`` a hard
    floor (the dataset API's "more than one labelled pixel"): a scene with fewer labelled
    pixels is never drawn, and no window below it is ever returned.
    """

    def __init__(self, scenes: Sequence[dict | MemoryScene | LazyScene], charts: Sequence[str],
                 patch: int, *, min_labelled: float = 0.1, min_labelled_pixels: int = 0,
                 keep_valid: bool = False, device: torch.device | str = "cpu") -> None:
        self.charts = tuple(charts)
        self.patch = int(patch)
        if self.patch < 1:
            raise DataError(f"patch size ({patch}) must be >= 1")
        self.min_labelled = float(min_labelled)
        self.min_labelled_pixels = int(min_labelled_pixels)
        self.keep_valid = bool(keep_valid)
        self.device = torch.device(device)
        self.scenes: list[_Scene] = []
        self.names: list[str] = []
        weights = []
        small: list[str] = []
        for scene in scenes:
            if isinstance(scene, MemoryScene):
                scene = scene.scene
            if isinstance(scene, LazyScene):
                labelled = scene.labelled(self.charts)
                h, w = labelled.shape
                if h < self.patch or w < self.patch:
                    small.append(f"{scene.name} {h}x{w}")
                labelled = np.pad(labelled, ((0, max(0, self.patch - h)),
                                             (0, max(0, self.patch - w))))
                entry = _Scene(shape=labelled.shape, labelled_sum=_integral(labelled),
                               lazy=scene)
                self.names.append(scene.name)
            else:
                h, w = scene["image"].shape[-2:]
                if h < self.patch or w < self.patch:
                    small.append(f"{_scene_name(scene)} {h}x{w}")
                image, labels, valid = _pad_to_patch(scene, self.charts, self.patch)
                labelled = (labels != L.LABEL_FILL).any(axis=0)
                entry = _Scene(
                    shape=labelled.shape, labelled_sum=_integral(labelled),
                    image=torch.from_numpy(image).to(self.device),
                    labels=torch.from_numpy(labels).to(self.device),
                    valid=(torch.from_numpy(valid).to(self.device)
                           if self.keep_valid and valid is not None else None))
                if self.keep_valid and valid is None:
                    raise DataError(f"{_scene_name(scene)}: no valid mask in the scene")
                self.names.append(_scene_name(scene))
            self.scenes.append(entry)
            count = float(labelled.sum())
            # a scene that cannot hold a single acceptable window is never drawn
            weights.append(count if count >= max(self.min_labelled_pixels, 1) else 0.0)
        if not self.scenes or sum(weights) == 0:
            raise DataError("no labelled pixels for " + ", ".join(self.charts)
                            + " in the scenes to draw patches from")
        if small:
            warnings.warn(f"{len(small)} scene(s) smaller than the {self.patch} px patch, padded "
                          "with unlabelled fill (no loss there): " + ", ".join(small[:5])
                          + (" ..." if len(small) > 5 else ""), DataWarning, stacklevel=2)
        # Scenes are drawn in proportion to their labelled area: every labelled pixel is
        # equally likely to be seen, whatever the scene sizes.
        self.scene_weights = torch.tensor(weights, dtype=torch.float64) / sum(weights)

    def windows(self, n: int, g: torch.Generator) -> list[tuple[int, int, int]]:
        """``n`` windows ``(scene, row, col)`` passing the labelled-fraction test."""
        p, need = self.patch, self.min_labelled * self.patch * self.patch
        floor = self.min_labelled_pixels
        chosen: list[tuple[int, int, int]] = []
        best: list[tuple[float, tuple[int, int, int]]] = []
        for _ in range(_MAX_DRAWS):
            m = 2 * (n - len(chosen))
            sidx = torch.multinomial(self.scene_weights, m, replacement=True, generator=g)
            u = torch.rand((m, 2), generator=g, dtype=torch.float64)
            for s, (ur, uc) in zip(sidx.tolist(), u.tolist()):
                scene = self.scenes[s]
                h, w = scene.shape
                r, c = int(ur * (h - p + 1)), int(uc * (w - p + 1))
                ii = scene.labelled_sum
                count = ii[r + p, c + p] - ii[r, c + p] - ii[r + p, c] + ii[r, c]
                if count >= max(need, floor, 1):
                    chosen.append((s, r, c))
                    if len(chosen) == n:
                        return chosen
                elif count >= floor:
                    best.append((float(count), (s, r, c)))
        best.sort(key=lambda t: -t[0])  # scenes that are mostly unlabelled: take the fullest
        chosen += [w for _, w in best[: n - len(chosen)]]
        if len(chosen) < n:
            where = self.names[0] if len(self.names) == 1 else "the scenes"
            raise DataError(f"{where}: no {p} x {p} patch with >= {floor} labelled pixels in "
                            f"{_MAX_DRAWS} rounds of draws")
        return chosen

    def _read(self, s: int, r: int, c: int) -> dict[str, torch.Tensor]:
        """One window of a lazy scene, read from its file, padded to the patch."""
        p = self.patch
        block = _pad(self.scenes[s].lazy.window(r, c, p, p, self.charts), p, p, self.charts)
        out = {"image": torch.from_numpy(np.ascontiguousarray(block["image"], np.float32)),
               "labels": torch.from_numpy(np.stack([np.asarray(block[k], np.uint8)
                                                    for k in self.charts])),
               "valid": torch.from_numpy(np.ascontiguousarray(block["valid"], bool))}
        return {k: v.to(self.device) for k, v in out.items()}

    def crop(self, windows: Sequence[tuple[int, int, int]]
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Gather windows into ``image [N, C, P, P]`` float32 and chart -> ``[N, P, P]`` int64
        (and ``"valid"`` -> ``[N, P, P]`` bool in the second dict with ``keep_valid``)."""
        p = self.patch
        n = len(windows)
        reads = {i: self._read(*w) for i, w in enumerate(windows)
                 if self.scenes[w[0]].lazy is not None}
        held = [sc for sc in self.scenes if sc.image is not None]
        channels = (held[0].image.shape[0] if held
                    else next(iter(reads.values()))["image"].shape[0] if reads else 0)
        image = torch.empty((n, channels, p, p), dtype=torch.float32, device=self.device)
        labels = torch.empty((n, len(self.charts), p, p), dtype=torch.uint8, device=self.device)
        valid = (torch.empty((n, p, p), dtype=torch.bool, device=self.device)
                 if self.keep_valid else None)
        ar = torch.arange(p, device=self.device)
        by_scene: dict[int, list[int]] = {}
        for i, (s, _, _) in enumerate(windows):
            by_scene.setdefault(s, []).append(i)
        for s, idx in by_scene.items():
            scene = self.scenes[s]
            if scene.lazy is not None:
                for i in idx:
                    block = reads[i]
                    image[i], labels[i] = block["image"], block["labels"]
                    if valid is not None:
                        valid[i] = block["valid"]
                continue
            rows = torch.tensor([windows[i][1] for i in idx], device=self.device)[:, None] + ar
            cols = torch.tensor([windows[i][2] for i in idx], device=self.device)[:, None] + ar
            rr, cc = rows[:, :, None], cols[:, None, :]          # [n_s, P, 1], [n_s, 1, P]
            where = torch.tensor(idx, device=self.device)
            image[where] = scene.image[:, rr, cc].permute(1, 0, 2, 3)
            labels[where] = scene.labels[:, rr, cc].permute(1, 0, 2, 3)
            if valid is not None:
                valid[where] = scene.valid[rr, cc]
        out = {c: labels[:, k].long() for k, c in enumerate(self.charts)}
        if valid is not None:
            out["valid"] = valid
        return image, out

    def batch(self, seed: int, epoch: int, step: int, batch: int, rank: int = 0,
              world_size: int = 1) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Generator]:
        """This rank's share of the global batch of ``(seed, epoch, step)``.

        Returns the patches and a generator for this step's augmentation draws (seeded from the
        same triple, so augmentation too is identical across world sizes and resumes).
        """
        g = generator(seed, epoch, step, 0)
        windows = self.windows(batch * world_size, g)
        image, labels = self.crop(windows[rank::world_size])
        return image, labels, generator(seed, epoch, step, 1)


def _pad_to_patch(scene: dict, charts: Sequence[str], patch: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Image ``[C, H, W]``, stacked labels ``[K, H, W]`` and the valid mask (None if the scene
    has none), padded to at least patch x patch (image 0, labels 255, valid False)."""
    missing = [c for c in charts if c not in scene]
    if missing:
        raise DataError(f"{_scene_name(scene)}: chart {missing[0]} was not loaded")
    image = np.asarray(scene["image"], dtype=np.float32)
    labels = np.stack([np.asarray(scene[c], dtype=np.uint8) for c in charts])
    valid = np.asarray(scene["valid"], dtype=bool) if "valid" in scene else None
    h, w = image.shape[-2:]
    ph, pw = max(0, patch - h), max(0, patch - w)
    if ph or pw:
        image = np.pad(image, ((0, 0), (0, ph), (0, pw)))
        labels = np.pad(labels, ((0, 0), (0, ph), (0, pw)), constant_values=L.LABEL_FILL)
        if valid is not None:
            valid = np.pad(valid, ((0, ph), (0, pw)))
    return (np.ascontiguousarray(image), np.ascontiguousarray(labels),
            None if valid is None else np.ascontiguousarray(valid))


class RandomPatches:
    """A torch-style map dataset of random patches (dicts of torch tensors), drawn by
    :class:`PatchSampler`.

    Each sample: ``image`` float32 ``[C, P, P]``, ``valid`` bool ``[P, P]`` and one int64
    ``[P, P]`` tensor per chart (255 = ignore). A window needs ``min_valid_labels`` labelled
    pixels (AutoICE: 2). Sample ``index`` is a pure function of ``(seed, epoch, index)``, so it
    is reproducible and identical across DataLoader workers; call :meth:`set_epoch` to draw new
    patches each epoch. ``transforms`` (a callable on the sample dict) runs last, as in TorchGeo.
    """

    def __init__(self, sources: Sequence, patch_size: int = 256, length: int = 4000,
                 charts: Sequence[str] = ("SOD",), seed: int = 0, min_valid_labels: int = 2,
                 transforms: Callable[[dict], dict] | None = None):
        if not sources:
            raise DataError("no scenes to draw patches from")
        if patch_size < 1 or length < 1:
            raise DataError(f"patch_size ({patch_size}) and length ({length}) must be >= 1")
        self.patch_size, self.length = int(patch_size), int(length)
        self.charts = tuple(charts)
        self.seed, self.epoch = int(seed), 0
        self.transforms = transforms
        self.sampler = PatchSampler(sources, self.charts, self.patch_size, min_labelled=0.0,
                                    min_labelled_pixels=int(min_valid_labels), keep_valid=True)

    def set_epoch(self, epoch: int) -> None:
        """Draw a different (still reproducible) set of patches for ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def sample(self, index: int) -> dict:
        """The patch of ``index`` as tensors, with its ``scene`` index, ``row`` and ``col``."""
        if not 0 <= index < self.length:
            raise IndexError(index)
        (k, row, col), = self.sampler.windows(1, generator(self.seed, self.epoch, index))
        image, labels = self.sampler.crop([(k, row, col)])
        block = {"image": image[0], **{c: v[0] for c, v in labels.items()}}
        block.update(scene=k, row=row, col=col)
        return block

    def __getitem__(self, index: int) -> dict:
        block = self.sample(index)
        sample = {"image": block["image"], "valid": block["valid"],
                  **{c: block[c] for c in self.charts}}
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample
