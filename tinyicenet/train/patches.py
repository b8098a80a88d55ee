"""Training's patches: the data layer's sampler (:class:`tinyicenet.data.patches.PatchSampler`,
seeded by ``(seed, epoch, step)``, DDP-partitioned) and the class histogram of the scenes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tinyicenet.data.patches import PatchSampler, generator
from tinyicenet.data.tables import LABEL_FILL

__all__ = ["PatchSampler", "class_histogram", "generator"]


def class_histogram(scenes: Sequence[dict], chart: str, num_classes: int) -> np.ndarray:
    """Labelled-pixel count per class of ``chart`` over ``scenes`` (255 left out)."""
    hist = np.zeros(num_classes, dtype=np.int64)
    for scene in scenes:
        lab = np.asarray(scene[chart]).ravel()
        lab = lab[lab != LABEL_FILL]
        hist += np.bincount(lab, minlength=num_classes)[:num_classes]
    return hist
