"""The AutoICE submission NetCDF: one uint8 array per scene and chart, zlib level 1.

Format of the challenge's upload package (starter kit ``test_upload.ipynb``): a NetCDF4 file
holding, for each scene and chart, a variable ``{scene}_{chart}`` with dimensions
``{scene}_{chart}_dim0`` / ``{scene}_{chart}_dim1``, on the ready-to-train 80 m grid of the
scene, compressed with zlib level 1. ``scene`` is the file name without ``_prep.nc``
(e.g. ``20180326T184705_dmi``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tinyicenet.atomic import atomic_path

ENCODING = {"zlib": True, "complevel": 1}
_SUFFIX = re.compile(r"(_prep)?(_reference)?$")


def submission_scene_name(path_or_stem: str | os.PathLike[str]) -> str:
    """AutoICE scene name: the file stem without ``_prep`` / ``_prep_reference``."""
    stem = Path(path_or_stem).name.removesuffix(".nc")
    return _SUFFIX.sub("", stem) or stem


def upsample_nearest(classes: np.ndarray, full_shape: tuple[int, int],
                     downsample: int) -> np.ndarray:
    """Class map on the working grid -> the file grid (each working pixel covers
    ``downsample x downsample`` file pixels; a partial last block repeats the last pixel)."""
    from tinyicenet.data.resample import upsample_classes
    return upsample_classes(classes, full_shape, downsample)


def write_submission(path: str | os.PathLike[str],
                     charts: Mapping[str, Mapping[str, np.ndarray]]) -> Path:
    """Write ``{scene: {chart: uint8 [H, W]}}`` as an AutoICE upload package, atomically."""
    import xarray as xr

    data = {}
    for scene, per_chart in charts.items():
        for chart, arr in per_chart.items():
            a = np.asarray(arr)
            if a.ndim != 2 or a.dtype != np.uint8:
                raise ValueError(f"{scene} {chart}: expected a 2-D uint8 array, "
                                 f"got {a.dtype} {a.shape}")
            name = f"{scene}_{chart}"
            data[name] = xr.DataArray(a, dims=(f"{name}_dim0", f"{name}_dim1"), name=name)
    ds = xr.Dataset(data)
    ds.attrs["Conventions"] = "AutoICE upload package"
    ds.attrs["source"] = "tinyicenet predict"
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, mode="w", format="NETCDF4", engine="netcdf4",
                     encoding={v: dict(ENCODING) for v in ds.data_vars})
    return Path(path)


def merge_submissions(path: str | os.PathLike[str],
                      parts: Sequence[str | os.PathLike[str]]) -> Path:
    """One upload package from per-scene submission files, copied variable by variable (one
    scene in memory at a time), atomically."""
    import netCDF4

    with atomic_path(path) as tmp, netCDF4.Dataset(tmp, "w", format="NETCDF4") as out:
        out.setncattr("Conventions", "AutoICE upload package")
        out.setncattr("source", "tinyicenet predict")
        for part in parts:
            with netCDF4.Dataset(part) as src:
                for name, var in src.variables.items():
                    if name in out.variables:
                        raise ValueError(f"{part}: variable {name} is already in the package")
                    for d in var.dimensions:
                        out.createDimension(d, len(src.dimensions[d]))
                    var.set_auto_mask(False)
                    dst = out.createVariable(name, "u1", var.dimensions, zlib=ENCODING["zlib"],
                                             complevel=ENCODING["complevel"])
                    dst[:] = var[:]
    return Path(path)
