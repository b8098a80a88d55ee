"""The AI4Arctic file layout: variable names, dimensions, fill values and file names.

These are facts of the released NetCDF files (ready-to-train ``*_prep.nc`` and raw ``*.nc``);
the reader checks files against them and the generator writes them.
"""

from __future__ import annotations

# the charts and their ignore value are the class tables file's (data/ai4arctic/classes.json)
from tinyicenet.data.tables import CHARTS, LABEL_FILL  # noqa: F401  (part of the layout)

# Dimensions of the real files.
SAR_DIMS = ("sar_lines", "sar_samples")
GRID_2KM_DIMS = ("2km_grid_lines", "2km_grid_samples")
TIEPOINT_DIMS = ("sar_line_2dgrid_points", "sar_sample_2dgrid_points")
RAW_TIEPOINT_DIM = "sar_grid_points"

# Variables on the SAR grid.
HH = "nersc_sar_primary"
HV = "nersc_sar_secondary"
INCIDENCE = "sar_incidenceangle"
DISTANCE = "distance_map"
SAR_VARIABLES = (HH, HV)
FULL_GRID_VARIABLES = (HH, HV, INCIDENCE, DISTANCE)

# Variables on the 2 km grid (one value per 2 km x 2 km cell).
AMSR2_VARIABLES = tuple(
    f"btemp_{freq}{pol}"
    for freq in ("6_9", "7_3", "10_7", "18_7", "23_8", "36_5", "89_0")
    for pol in ("h", "v")
)
ERA5_VARIABLES = ("u10m_rotated", "v10m_rotated", "t2m", "skt", "tcwv", "tclw")
GRID_2KM_VARIABLES = AMSR2_VARIABLES + ERA5_VARIABLES
GRID_2KM_SPACING_M = 2000.0

# Tie-point geolocation (sparse grid in RTT files, 1-D list in raw files).
LATITUDE = "sar_grid2d_latitude"
LONGITUDE = "sar_grid2d_longitude"
RAW_TIEPOINT_VARIABLES = ("sar_grid_line", "sar_grid_sample", "sar_grid_latitude",
                          "sar_grid_longitude", "sar_grid_height")

# Charts (labels).
POLYGON_ICECHART = "polygon_icechart"
POLYGON_CODES = "polygon_codes"
POLYGON_FIELDS = ("id", "CT", "CA", "SA", "FA", "CB", "SB", "FB", "CC", "SC", "FC", "CN", "CD",
                  "CF", "POLY_TYPE")
NOT_FILLED = -9  # SIGRID field left empty

# All model inputs of the starter kit, in its order.
ALL_INPUT_VARIABLES = FULL_GRID_VARIABLES + GRID_2KM_VARIABLES
DEFAULT_VARIABLES = SAR_VARIABLES

# Global attributes of every scene file.
GLOBAL_ATTRIBUTES = ("scene_id", "original_id", "ice_service", "flip", "pixel_spacing")
ICE_SERVICES = ("dmi", "cis")

# File names: <acquisition start>_<platform>_AMSR2_Icechart-<region>[_prep].nc
RTT_SUFFIX = "_prep.nc"
REFERENCE_SUFFIX = "_prep_reference.nc"
RTT_PIXEL_SPACING_M = 80.0
RAW_PIXEL_SPACING_M = 40.0

# The model works at 400 m: RTT scenes (80 m) are downsampled by 5, so a 400 km x 400 km
# Sentinel-1 EW scene is 1000 x 1000 working pixels.
DEFAULT_DOWNSAMPLE = 5
WORKING_PIXEL_SPACING_M = 400.0  # downsample=None picks the factor that reaches this spacing


def grid_of(variable: str) -> str:
    """Return ``"sar"`` or ``"2km"``: the grid a model-input variable lives on."""
    if variable in FULL_GRID_VARIABLES:
        return "sar"
    if variable in GRID_2KM_VARIABLES:
        return "2km"
    raise KeyError(variable)
