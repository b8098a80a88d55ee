"""Whole scenes -> map products: COG of class ids, AutoICE submission NetCDF, quicklook, summary.

Modules (one job each):

* :mod:`~tinyicenet.predict.runner`: halo tiles through a backend, stitched, argmax per chart;
* :mod:`~tinyicenet.predict.geo`: tie-point grid -> GCPs (EPSG:4326), warp to a map CRS;
* :mod:`~tinyicenet.predict.cog`: Cloud-Optimised GeoTIFF writer (colour table, class names,
  overviews, nodata 255);
* :mod:`~tinyicenet.predict.submission`: AutoICE upload NetCDF;
* :mod:`~tinyicenet.predict.quicklook`: PNG with HH, prediction, labels and a legend;
* :mod:`~tinyicenet.predict.summary`: per-scene sizes against the SAR input, timings, metrics;
* :mod:`~tinyicenet.predict.pipeline`: the workflow over scenes (``predict_scenes``).

Public API::

    predict_scenes(checkpoint, scenes, out_dir, PredictOptions(...)) -> RunSummary
"""

from tinyicenet.predict.pipeline import PredictOptions, ScenesFailedError, predict_scenes
from tinyicenet.predict.summary import RunSummary, SceneRecord

__all__ = ["PredictOptions", "RunSummary", "SceneRecord", "ScenesFailedError", "predict_scenes"]
