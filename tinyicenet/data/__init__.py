"""AI4Arctic data: reading (ready-to-train and raw), validation, normalisation, resampling,
patches and halo tiles, synthetic scenes, plots.

Heavy dependencies (xarray, torch, matplotlib) load on first use of the name that needs them.
"""

from __future__ import annotations

import importlib

from tinyicenet.data.layout import DEFAULT_DOWNSAMPLE, DEFAULT_VARIABLES

# public name -> module that defines it (imported lazily)
_EXPORTS = {
    "load_scene": "scene", "open_scene": "reader", "scene_files": "reader",
    "validate_scene": "reader", "scene_info": "info",
    "normalise": "scene", "compute_statistics": "stats",
    "downsample_mean": "resample", "downsample_labels": "resample", "upsample": "resample",
    "plan_tiles": "tiling", "extract_tiles": "tiling", "stitch": "tiling",
    "tiles_per_scene": "tiling", "TilePlan": "tiling",
    "RandomPatches": "patches", "PatchSampler": "patches",
    "AI4ArcticDataset": "dataset", "DatasetNotFoundError": "dataset",
    "plot": "plotting",
    "write_scenes": "synth", "generate_scene": "synth",
    "class_table": "tables", "class_tables": "tables", "normalisation_stats": "tables",
    "charts_from_polygons": "icechart",
}

__all__ = ["DEFAULT_DOWNSAMPLE", "DEFAULT_VARIABLES", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(f"tinyicenet.data.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'tinyicenet.data' has no attribute {name!r}")
