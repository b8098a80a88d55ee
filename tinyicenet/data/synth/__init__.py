"""Seeded synthetic scenes in the exact AI4Arctic layout (ready-to-train or raw).

The real files cannot be downloaded everywhere (CI, demos), so tests and the demo run on scenes
generated here. They carry every variable of the real files with the real names, dimensions,
attributes, fill values and file-name pattern, and their content behaves like Sentinel-1 EW SAR
over sea ice:

* An ice chart of irregular polygons (Voronoi cells on a domain-warped grid with ragged
  boundaries), each with a SIGRID-3 egg code: total concentration CT, up to three partial
  concentrations with stages (SA, SB, SC) and floe sizes. SIC/SOD/FLOE come from these codes
  through :mod:`tinyicenet.data.icechart` (the 65 % dominance rule), as in the real charts.
* Inside a polygon the surface is a mixture of its ice types and open water in their partial
  concentrations, arranged at floe scale (leads open next to the thinnest ice). So a pixel shows
  its own ice type, while the label is the polygon's dominant type: single pixels are ambiguous,
  local context resolves them.
* HH/HV backscatter in dB per ice type with an incidence-angle slope (18.9-47 deg across the
  swath), per-polygon and per-scene offsets, texture (wind streaks on water, ridges on thick
  first-year ice, hummocks on old ice), an HV noise floor with sub-swath steps, and
  multiplicative gamma speckle of a few looks.
* Land (``distance_map`` 0, SAR NaN, labels 255) on some scenes, distance-to-land zones, and NaN
  outside a rotated swath footprint with an irregular edge.
* AMSR2 brightness temperatures and ERA5 fields on the 2 km grid, consistent with the ice
  concentration; a 21 x 21 tie-point lat/lon grid.

A fixed seed gives identical files (scene ``i`` of seed ``s`` uses ``default_rng([s, i])``).

The jobs are split into modules: :mod:`~tinyicenet.data.synth.chart` (polygons, egg codes),
:mod:`~tinyicenet.data.synth.geometry` (footprint, incidence angle, land, tie points),
:mod:`~tinyicenet.data.synth.sar` (backscatter physics, speckle),
:mod:`~tinyicenet.data.synth.grid2km` (AMSR2, ERA5), :mod:`~tinyicenet.data.synth.scene`
(assembly into the file layout, file names) and :mod:`~tinyicenet.data.synth.netcdf` (writing),
on :mod:`~tinyicenet.data.synth.noise` (random fields) and :mod:`~tinyicenet.data.synth.config`
(the knobs). This package exports the generator's public API.
"""

from __future__ import annotations

from tinyicenet.data.synth.config import SynthConfig
from tinyicenet.data.synth.netcdf import write_scene, write_scenes
from tinyicenet.data.synth.scene import generate_scene, scene_name

__all__ = ["SynthConfig", "generate_scene", "write_scene", "write_scenes", "scene_name"]
