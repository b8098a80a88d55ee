"""Seeded random patches cut from scenes held in memory (on the training device).

Each scene is loaded once at the working resolution; a batch is a set of ``(scene, row, col)``
windows drawn from a generator seeded by ``(seed, epoch, step)`` alone, so

* training is reproducible, and resuming at an epoch boundary replays exactly the same patches;
* under DDP every rank draws the same *global* batch of ``batch * world_size`` windows and keeps
  the slice ``rank::world_size`` (DistributedSampler's partitioning), so N processes with batch B
  see the same patches as one process with batch N * B.

Windows whose labelled fraction (any chart, from an integral image) is below ``min_labelled``
are redrawn, as the AutoICE starter kit rejects nearly empty patches. The crop itself is one
advanced-indexing gather per scene, which stays a handful of kernels on a GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from tinyicenet.metrics import IGNORE_INDEX

_MAX_DRAWS = 64  # rounds of candidate windows before accepting the best found


def stream_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (numpy's SeedSequence hashing)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(2, dtype=np.uint64)[0] >> 1)


def generator(*parts: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(stream_seed(*parts))
    return g


@dataclass
class _Scene:
    image: torch.Tensor          # [C, H, W] float32 on the device
    labels: torch.Tensor         # [K, H, W] uint8 on the device (255 = ignore)
    labelled_sum: np.ndarray     # [H + 1, W + 1] integral image of "any chart labelled"
    shape: tuple[int, int]


class PatchSampler:
    """Draws batches of patches from in-memory scenes (see module doc)."""

    def __init__(self, scenes: Sequence[dict], charts: Sequence[str], patch: int, *,
                 min_labelled: float = 0.1, device: torch.device | str = "cpu") -> None:
        self.charts = tuple(charts)
        self.patch = int(patch)
        self.min_labelled = float(min_labelled)
        self.device = torch.device(device)
        self.scenes: list[_Scene] = []
        weights = []
        for scene in scenes:
            image, labels = _pad_to_patch(scene, self.charts, self.patch)
            labelled = (labels != IGNORE_INDEX).any(axis=0)
            integral = np.zeros((labelled.shape[0] + 1, labelled.shape[1] + 1), dtype=np.int64)
            integral[1:, 1:] = labelled.cumsum(0).cumsum(1)
            self.scenes.append(_Scene(
                image=torch.from_numpy(image).to(self.device),
                labels=torch.from_numpy(labels).to(self.device),
                labelled_sum=integral, shape=labelled.shape))
            weights.append(float(labelled.sum()))
        if not self.scenes or sum(weights) == 0:
            raise ValueError("no labelled pixels in the training scenes")
        # Scenes are drawn in proportion to their labelled area: every labelled pixel is
        # equally likely to be seen, whatever the scene sizes.
        self.scene_weights = torch.tensor(weights, dtype=torch.float64) / sum(weights)

    def windows(self, n: int, g: torch.Generator) -> list[tuple[int, int, int]]:
        """``n`` windows ``(scene, row, col)`` passing the labelled-fraction test."""
        p, need = self.patch, self.min_labelled * self.patch * self.patch
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
                if count >= max(need, 1):
                    chosen.append((s, r, c))
                    if len(chosen) == n:
                        return chosen
                else:
                    best.append((float(count), (s, r, c)))
        best.sort(key=lambda t: -t[0])  # scenes that are mostly unlabelled: take the fullest
        return chosen + [w for _, w in best[: n - len(chosen)]]

    def crop(self, windows: Sequence[tuple[int, int, int]]
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Gather windows into ``image [N, C, P, P]`` float32 and chart -> ``[N, P, P]`` int64."""
        p = self.patch
        n = len(windows)
        first = self.scenes[0]
        image = torch.empty((n, first.image.shape[0], p, p), dtype=torch.float32,
                            device=self.device)
        labels = torch.empty((n, len(self.charts), p, p), dtype=torch.uint8, device=self.device)
        ar = torch.arange(p, device=self.device)
        by_scene: dict[int, list[int]] = {}
        for i, (s, _, _) in enumerate(windows):
            by_scene.setdefault(s, []).append(i)
        for s, idx in by_scene.items():
            scene = self.scenes[s]
            rows = torch.tensor([windows[i][1] for i in idx], device=self.device)[:, None] + ar
            cols = torch.tensor([windows[i][2] for i in idx], device=self.device)[:, None] + ar
            rr, cc = rows[:, :, None], cols[:, None, :]          # [n_s, P, 1], [n_s, 1, P]
            where = torch.tensor(idx, device=self.device)
            image[where] = scene.image[:, rr, cc].permute(1, 0, 2, 3)
            labels[where] = scene.labels[:, rr, cc].permute(1, 0, 2, 3)
        return image, {c: labels[:, k].long() for k, c in enumerate(self.charts)}

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


def class_histogram(scenes: Sequence[dict], chart: str, num_classes: int) -> np.ndarray:
    """Labelled-pixel count per class of ``chart`` over ``scenes`` (255 left out)."""
    hist = np.zeros(num_classes, dtype=np.int64)
    for scene in scenes:
        lab = np.asarray(scene[chart]).ravel()
        lab = lab[lab != IGNORE_INDEX]
        hist += np.bincount(lab, minlength=num_classes)[:num_classes]
    return hist


def _pad_to_patch(scene: dict, charts: Sequence[str], patch: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Image ``[C, H, W]`` and stacked labels ``[K, H, W]``, padded to at least patch x patch."""
    image = np.asarray(scene["image"], dtype=np.float32)
    labels = np.stack([np.asarray(scene[c], dtype=np.uint8) for c in charts])
    h, w = image.shape[-2:]
    ph, pw = max(0, patch - h), max(0, patch - w)
    if ph or pw:
        image = np.pad(image, ((0, 0), (0, ph), (0, pw)))
        labels = np.pad(labels, ((0, 0), (0, ph), (0, pw)), constant_values=IGNORE_INDEX)
    return np.ascontiguousarray(image), np.ascontiguousarray(labels)
