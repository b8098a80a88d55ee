"""Process-group set-up for ``torchrun``: one process per GPU (nccl) or per CPU worker (gloo).

``tinyicenet train`` needs no flag for this: under ``torchrun --nproc_per_node N`` the launcher
sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``, and :func:`setup` turns them into a
:class:`DistContext`. Without them training is a single plain process (the default).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from tinyicenet.errors import ConfigError
from tinyicenet.models.device import pick_device  # moved to models (evaluate uses it)


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: rank, world size and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            if self.backend == "nccl":
                dist.barrier(device_ids=[self.device.index])
            else:
                dist.barrier()

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over ranks in place (on this process's device)."""
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r} is not an integer") from None


def setup(device_request: str = "auto") -> DistContext:
    """Read torchrun's variables; start the process group when ``WORLD_SIZE > 1``."""
    world = _env_int("WORLD_SIZE") or 1
    rank = _env_int("RANK") or 0
    local_rank = _env_int("LOCAL_RANK") or 0
    device = pick_device(device_request, local_rank)
    if world <= 1:
        return DistContext(device=device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world,
                                **({"device_id": device} if backend == "nccl" else {}))
    return DistContext(rank=rank, world_size=world, local_rank=local_rank, device=device,
                       backend=backend)


def teardown(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()
