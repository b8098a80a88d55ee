"""Writing generated scenes as NetCDF4 files (zlib, chunked like the release), atomically."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from tinyicenet.data.synth.config import SynthConfig
from tinyicenet.data.synth.scene import generate_scene


def _encoding(ds, cfg: SynthConfig) -> dict:
    enc = {}
    for var in ds.data_vars:
        da = ds[var]
        e: dict = {"zlib": cfg.complevel > 0, "complevel": cfg.complevel} if cfg.complevel else {}
        if da.ndim == 2:
            e["chunksizes"] = tuple(min(cfg.chunk, n) for n in da.shape)
            e["shuffle"] = True
        if da.dtype.kind == "f":
            e["_FillValue"] = np.float32(np.nan) if da.dtype == np.float32 else np.nan
        else:
            e["_FillValue"] = None  # labels: 255 is a class-table value, not a NetCDF fill
        enc[var] = e
    return enc


def write_scene(ds, path: str | os.PathLike[str], config: SynthConfig | None = None) -> Path:
    """Write a generated scene atomically as NetCDF4 (zlib, chunked like the release)."""
    from tinyicenet.atomic import atomic_path

    cfg = config or SynthConfig()
    ds = ds.copy()
    ds.attrs.pop("file_name", None)
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", encoding=_encoding(ds, cfg))
    return Path(path)


def write_scenes(out_dir: str | os.PathLike[str], n: int, size: Sequence[int] = (600, 600),
                 seed: int = 0, raw: bool = False, pixel_spacing: float | None = None,
                 config: SynthConfig | None = None,
                 on_scene: Callable[[Path], None] | None = None) -> list[Path]:
    """Generate ``n`` scenes into ``out_dir`` and return their paths (in index order).

    ``on_scene`` is called after each file is written (for progress bars).
    """
    if n < 1:
        raise ValueError(f"number of scenes must be >= 1, got {n}")
    from tinyicenet.atomic import make_dir

    out = make_dir(out_dir)
    paths = []
    for i in range(n):
        ds = generate_scene(tuple(size), seed=seed, index=i, raw=raw,
                            pixel_spacing=pixel_spacing, config=config)
        path = write_scene(ds, out / ds.attrs["file_name"], config)
        paths.append(path)
        if on_scene is not None:
            on_scene(path)
    return paths
