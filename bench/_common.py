"""Pieces the CPU benchmark scripts share (imported before numpy loads: no heavy imports here)."""

from __future__ import annotations

import os
from pathlib import Path


def pin_cores(cores: int) -> list[int] | None:
    """Restrict this process (its BLAS / torch threads, and worker processes, which inherit it)
    to ``cores`` CPUs; call before numpy is imported."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(cores)
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[:cores]
        os.sched_setaffinity(0, cpus)
        return cpus
    return None


def random_checkpoint(path: Path, seed: int, purpose: str) -> Path:
    """A calibrated w4a4 checkpoint with random weights (speed only; not trained), carrying the
    normalisation record that training stores, so serving takes the checkpoint path."""
    import torch

    from tinyicenet.data.layout import DEFAULT_VARIABLES
    from tinyicenet.models import calibrate, create_model, save_checkpoint
    from tinyicenet.models.checkpoint import normalisation_record

    torch.manual_seed(seed)
    model = create_model("tinyicenet_w4a4").eval()
    calibrate(model, [torch.randn(4, 2, 64, 64) for _ in range(4)])
    variables = list(DEFAULT_VARIABLES)
    return save_checkpoint(path, model, variables=variables,
                           data_stats={"variables": variables,
                                       "normalisation": normalisation_record(variables)},
                           note=f"random weights for the {purpose} benchmark (not trained)")
