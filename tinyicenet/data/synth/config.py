"""The generator's knobs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SynthConfig:
    """Knobs of the generator (defaults calibrated so SOD is learnable but not trivial)."""

    polygon_km: float = 35.0  # typical ice-chart polygon size
    floe_km: float = 1.5  # correlation length of the ice-type mixture inside a polygon
    looks: float = 4.0  # equivalent number of looks of the speckle (EW GRDM at 80 m: a few)
    water_polygons: float = 0.18  # fraction of polygons that are open water
    ambiguous_polygons: float = 0.10  # fraction of ice polygons without a dominant stage
    land_probability: float = 0.5  # fraction of scenes with a coastline
    tiepoints: int = 21  # tie-point grid size per axis (~21 x 21 in the release)
    complevel: int = 4  # zlib level of the written files
    chunk: int = 512  # NetCDF chunk edge (pixels)
    #: Keep backscatter over land (as real files do) instead of NaN, so that land masking from
    #: ``distance_map`` is what keeps land out of products and scores.
    land_backscatter: bool = False
