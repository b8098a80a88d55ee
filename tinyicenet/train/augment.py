"""Label-preserving geometric augmentation: flips and 90-degree rotations (the square's symmetries).

SAR backscatter has no preferred orientation at the patch scale once the incidence-angle trend
is left out, so the eight dihedral transforms are free extra samples (MMSeaIce used the same).
Draws come from an explicit ``torch.Generator`` so training is reproducible and resumable.
Samples that share a transform are processed together: at most 16 groups per batch, which keeps
the work in a few large tensor ops on GPU.
"""

from __future__ import annotations

import torch


def draw_codes(n: int, generator: torch.Generator, *, flips: bool = True,
               rot90: bool = True) -> list[int]:
    """One transform code per sample: bit 3 horizontal flip, bit 2 vertical flip, bits 0-1 the
    number of quarter turns. Always consumes the same draws, so codes do not depend on options."""
    draws = torch.randint(0, 2, (n, 2), generator=generator)
    rots = torch.randint(0, 4, (n,), generator=generator)
    hflip = draws[:, 0] if flips else torch.zeros(n, dtype=torch.long)
    vflip = draws[:, 1] if flips else torch.zeros(n, dtype=torch.long)
    rot = rots if rot90 else torch.zeros(n, dtype=torch.long)
    return (hflip * 8 + vflip * 4 + rot).tolist()


def apply_codes(image: torch.Tensor, labels: dict[str, torch.Tensor], codes: list[int]
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Transform sample ``i`` of ``image [N, C, P, P]`` and of each ``labels[chart] [N, P, P]``
    by ``codes[i]``; samples sharing a code are transformed together."""
    if len(codes) != image.shape[0]:
        raise ValueError(f"{len(codes)} codes for a batch of {image.shape[0]}")
    out_img = image.clone()
    out_lab = {k: v.clone() for k, v in labels.items()}
    for c in sorted(set(codes)):
        if c == 0:
            continue
        idx = torch.tensor([i for i, ci in enumerate(codes) if ci == c], device=image.device)
        h, v, k = c >> 3 & 1, c >> 2 & 1, c & 3
        out_img[idx] = _transform(image[idx], h, v, k)
        for chart, lab in labels.items():
            out_lab[chart][idx] = _transform(lab[idx], h, v, k)
    return out_img, out_lab


def augment_batch(image: torch.Tensor, labels: dict[str, torch.Tensor], generator: torch.Generator,
                  *, flips: bool = True, rot90: bool = True
                  ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Apply one random dihedral transform per sample to ``image [N, C, P, P]`` and its labels.

    ``labels`` maps chart -> ``[N, P, P]``. Random draws are made on the CPU generator whatever
    the tensors' device, so results do not depend on where training runs.
    """
    if not (flips or rot90):
        return image, labels
    return apply_codes(image, labels, draw_codes(image.shape[0], generator, flips=flips,
                                                 rot90=rot90))


def _transform(x: torch.Tensor, hflip: int, vflip: int, k: int) -> torch.Tensor:
    """Flip then rotate the last two dimensions (square patches keep their shape)."""
    dims = [d for d, on in ((-1, hflip), (-2, vflip)) if on]
    if dims:
        x = torch.flip(x, dims)
    if k:
        x = torch.rot90(x, k, dims=(-2, -1))
    return x
