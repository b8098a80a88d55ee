"""Cloud-Optimised GeoTIFF of class ids: uint8, 255 = nodata, colour table, class names, overviews.

The raster is assembled in memory as a tiled GTiff (data, colour table, GCPs or geotransform,
metadata) and copied with GDAL's COG driver, which writes the internal overviews and the
COG-ordered layout (IFDs first, ghost header ``LAYOUT=COG``). Overviews use GDAL's ``MODE``
resampling: the most frequent class of each block, never a blend of class ids.
The output file is written atomically.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinyicenet.atomic import atomic_path
from tinyicenet.data.tables import LABEL_FILL as NODATA  # no class: the charts' fill value

BLOCKSIZE = 256
#: Creation options of GDAL's COG driver. DEFLATE: every GDAL build reads it (ZSTD/LERC are not in
#: all builds); no predictor, since differencing class ids breaks the long runs deflate thrives on.
COG_OPTIONS = {"COMPRESS": "DEFLATE", "LEVEL": "9",
               "BLOCKSIZE": str(BLOCKSIZE), "OVERVIEW_RESAMPLING": "MODE",
               "OVERVIEWS": "IGNORE_EXISTING", "BIGTIFF": "IF_SAFER"}


@dataclass(frozen=True)
class Georef:
    """How the raster sits on the Earth: GCPs (swath geometry) or an affine grid transform."""

    crs: str
    gcps: Sequence | None = None
    transform: object | None = None  # affine.Affine

    def __post_init__(self) -> None:
        if (self.gcps is None) == (self.transform is None):
            raise ValueError("a Georef holds either GCPs or a transform, not both or neither")


Colour = str | Sequence[int]


def rgba255(colour: Colour) -> tuple[int, int, int, int]:
    """``"#rrggbb"`` (as in ``data/ai4arctic/classes.json``) or an RGB(A) tuple in 0..255."""
    if isinstance(colour, str):
        h = colour.lstrip("#")
        if len(h) not in (6, 8) or any(ch not in "0123456789abcdefABCDEF" for ch in h):
            raise ValueError(f"colour {colour!r} is not #rrggbb or #rrggbbaa")
        vals = tuple(int(h[i:i + 2], 16) for i in range(0, len(h), 2))
    else:
        vals = tuple(int(v) for v in colour)
    rgba = vals + ((255,) if len(vals) == 3 else ())
    if len(rgba) != 4 or not all(0 <= v <= 255 for v in rgba):
        raise ValueError(f"colour {colour!r} is not RGB(A) in 0..255")
    return rgba  # type: ignore[return-value]


def colormap(colours: Sequence[Colour], nodata: int = NODATA) -> dict[int, tuple]:
    """GDAL colour table: class ``i`` -> ``colours[i]``, nodata transparent."""
    table = {i: rgba255(c) for i, c in enumerate(colours)}
    table[nodata] = (0, 0, 0, 0)
    return table


def class_tags(chart: str, names: Sequence[str], nodata: int = NODATA) -> dict[str, str]:
    """Dataset metadata naming the classes (read back with ``rasterio``'s ``tags()``).

    ``CLASS_NAMES`` is JSON (``{"0": "open water", ...}``) for programs; ``CLASS_<i>`` are one
    tag per class for people reading ``gdalinfo``.
    """
    tags = {"CHART": chart, "NODATA_MEANING": "no SAR data (outside swath or land)",
            "CLASS_NAMES": json.dumps({str(i): n for i, n in enumerate(names)}),
            "NODATA_VALUE": str(nodata)}
    tags.update({f"CLASS_{i}": n for i, n in enumerate(names)})
    return tags


def write_class_cog(path: str | os.PathLike[str], classes: np.ndarray, *, chart: str,
                    names: Sequence[str], colours: Sequence[Colour],
                    georef: Georef | None = None, tags: Mapping[str, object] | None = None,
                    nodata: int = NODATA) -> Path:
    """Write ``classes`` (uint8 ``[H, W]``, ``nodata`` where unknown) as a COG at ``path``.

    ``georef`` None writes a raster without georeference (pixel grid only). Values other than
    ``0..len(names)-1`` and ``nodata`` are a ValueError: a product never carries unnamed classes.
    """
    import rasterio
    import rasterio.shutil
    from rasterio.crs import CRS
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile

    arr = np.asarray(classes)
    if arr.ndim != 2 or arr.dtype != np.uint8:
        raise ValueError(f"class map must be a 2-D uint8 array, not {arr.dtype} {arr.shape}")
    bad = np.setdiff1d(np.unique(arr), np.r_[np.arange(len(names)), nodata])
    if bad.size:
        raise ValueError(f"class map holds value(s) {bad.tolist()} outside the {len(names)} "
                         f"{chart} classes and nodata {nodata}")
    h, w = arr.shape
    profile = {"driver": "GTiff", "height": h, "width": w, "count": 1, "dtype": "uint8",
               "nodata": nodata, "tiled": True, "blockxsize": BLOCKSIZE,
               "blockysize": BLOCKSIZE, "photometric": "palette"}
    if georef is not None and georef.transform is not None:
        profile.update(crs=CRS.from_user_input(georef.crs), transform=georef.transform)
    all_tags = {**class_tags(chart, names, nodata), **{k: str(v) for k, v in (tags or {}).items()}}
    with warnings.catch_warnings(), MemoryFile() as mem:
        # A raster without georeference is legitimate here (the caller warns the user once).
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with mem.open(**profile) as ds:
            ds.write(arr, 1)
            ds.write_colormap(1, colormap(colours, nodata))
            ds.set_band_description(1, f"{chart} class id")
            ds.update_tags(**all_tags)
            if georef is not None and georef.gcps is not None:
                ds.gcps = (list(georef.gcps), CRS.from_user_input(georef.crs))
        with mem.open() as src, atomic_path(path) as tmp:
            rasterio.shutil.copy(src, str(tmp), driver="COG", **COG_OPTIONS)
    return Path(path)


def describe(path: str | os.PathLike[str]) -> dict[str, object]:
    """What a reader sees in a class COG (for tests and users' sanity checks)."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as ds:
            gcps, gcp_crs = ds.gcps
            return {
                "driver": ds.driver, "shape": [ds.height, ds.width], "dtype": ds.dtypes[0],
                "nodata": ds.nodata, "crs": (ds.crs or gcp_crs).to_string()
                if (ds.crs or gcp_crs) else None,
                "georeference": "transform" if ds.crs else ("gcps" if gcps else None),
                "gcps": len(gcps), "overviews": ds.overviews(1),
                "layout": ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT"),
                "compression": ds.tags(ns="IMAGE_STRUCTURE").get("COMPRESSION"),
                "block_shapes": ds.block_shapes, "tags": ds.tags(),
            }
