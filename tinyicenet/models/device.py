"""Which torch device a run uses: ``auto``, ``cpu`` or ``cuda``."""

from __future__ import annotations

import torch

from tinyicenet.errors import ConfigError


def pick_device(request: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a ConfigError."""
    if request == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if request == "cuda":
        raise ConfigError("config key 'train.device': cuda was asked for but no CUDA device "
                          "is available")
    return torch.device("cpu")
