"""What a measurement means for an orbit: energy per orbit and per day, downlink saved.

Orbit energy. The accelerator is powered for ``duty_cycle`` of each orbit (while the SAR
acquires), processes ``scenes_per_orbit`` scenes at its measured rate and idles the rest of the
powered time::

    E_orbit = n x E_scene_gross + P_idle x max(0, duty x T_orbit - n / scenes_per_s)

Without an idle measurement the second term is left out and the figure says so. Per day
multiplies by 86400 s / T_orbit. Defaults: Sentinel-1's orbit (98.6 min, 175 orbits in its
12-day repeat cycle), SAR on for up to 25 minutes per orbit (duty 0.25), and one 400 km EW scene
per ~58 s of ground track (7 km/s) gives 25 scenes per orbit.

Downlink per scene. Raw SAR is either the Level-1 EW GRD medium-resolution product (40 m
pixels, 2 polarisations, 16-bit: 10000 x 10000 x 2 x 2 bytes = 400 MB for 400 x 400 km) or the
model's own input (2 channels float32 at the working spacing). The SOD product is one uint8
class per working pixel; its compressed size is measured (zlib level 9) when a product raster
is given, never guessed.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyicenet.errors import ConfigError, DataError

DAY_S = 86400.0
#: what runs on board before the network for the downlink saving to hold (energy not counted)
ONBOARD_BEFORE_NETWORK = ("SAR focusing, radiometric calibration and downsampling to the "
                          "working grid")
GRD_EW_PIXEL_M = 40.0
RAW_MODES = ("grd", "input")
#: The raw volume the saving is priced against unless told otherwise.
DEFAULT_RAW = "grd"


@dataclass(frozen=True)
class OrbitPlan:
    """An acquisition plan: scenes per orbit, orbit period, powered fraction of the orbit.

    Its field defaults (the Sentinel-1 plan of the module doc) are the one place the report's
    default plan is stated; ``tinyicenet report`` passes only the values it is given.
    """

    scenes_per_orbit: float = 25.0
    orbit_period_min: float = 98.6
    duty_cycle: float = 0.25

    def check(self) -> OrbitPlan:
        for label, value in (("scenes per orbit", self.scenes_per_orbit),
                             ("orbit period", self.orbit_period_min),
                             ("duty cycle", self.duty_cycle)):
            if not math.isfinite(value):
                raise ConfigError(f"{label} {value}: must be a finite number")
        if self.scenes_per_orbit < 0:
            raise ConfigError(f"scenes per orbit {self.scenes_per_orbit}: must be >= 0")
        if self.orbit_period_min <= 0:
            raise ConfigError(f"orbit period {self.orbit_period_min} min: must be > 0")
        if not 0 < self.duty_cycle <= 1:
            raise ConfigError(f"duty cycle {self.duty_cycle}: must be in (0, 1]")
        return self

    @property
    def orbits_per_day(self) -> float:
        return DAY_S / (self.orbit_period_min * 60)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "orbits_per_day": self.orbits_per_day}


def orbit_energy(result: dict[str, Any], plan: OrbitPlan) -> dict[str, Any] | None:
    """Energy per orbit and day for one bench result, or None without energy figures."""
    e_scene = result["energy_mj"]["per_scene_gross"]
    sps = result["scenes_per_s"]
    if e_scene is None or not sps:
        return None
    n = plan.scenes_per_orbit
    powered_s = plan.duty_cycle * plan.orbit_period_min * 60
    busy_s = n / sps
    idle_w = result["power_w"].get("idle")
    idle_j = idle_w * max(0.0, powered_s - busy_s) if idle_w is not None else None
    process_j = n * e_scene / 1e3
    orbit_j = process_j + (idle_j or 0.0)
    day_j = orbit_j * plan.orbits_per_day
    return {
        "processing_j": process_j,
        "idle_j": idle_j,
        "orbit_j": orbit_j,
        "day_j": day_j,
        "day_wh": day_j / 3600,
        "average_w": day_j / DAY_S,
        "busy_s_per_orbit": busy_s,
        "powered_s_per_orbit": powered_s,
        "keeps_up": busy_s <= powered_s,
        "includes_idle": idle_j is not None,
    }


@dataclass(frozen=True)
class Downlink:
    """Bytes per scene of raw SAR and of the SOD product, and what that means per orbit/day."""

    raw: str
    raw_bytes: float
    raw_assumption: str
    product_bytes: float
    product_assumption: str
    product_compressed_bytes: float | None
    compressed_source: str | None


def downlink(pixels: tuple[int, int], pixel_spacing_m: float | None, raw: str = DEFAULT_RAW,
             product: str | Path | np.ndarray | None = None) -> Downlink:
    """Downlink volume per scene for a scene of ``pixels`` at ``pixel_spacing_m``."""
    if raw not in RAW_MODES:
        raise ConfigError(f"raw downlink mode {raw!r}: choose from {', '.join(RAW_MODES)}")
    h, w = pixels
    if raw == "grd":
        if pixel_spacing_m is None:
            raise ConfigError("raw GRD volume needs the scene's pixel spacing")
        gh = int(round(h * pixel_spacing_m / GRD_EW_PIXEL_M))
        gw = int(round(w * pixel_spacing_m / GRD_EW_PIXEL_M))
        raw_bytes = gh * gw * 2 * 2
        raw_text = (f"Sentinel-1 EW GRD medium resolution: {gh} x {gw} pixels at "
                    f"{GRD_EW_PIXEL_M:g} m, 2 polarisations (HH, HV), 16-bit")
    else:
        raw_bytes = h * w * 2 * 4
        raw_text = f"model input: {h} x {w} pixels, 2 channels (HH, HV), float32"
    product_bytes = h * w
    product_text = f"SOD class map: {h} x {w} pixels, uint8"
    compressed, source = None, None
    if product is not None:
        classes = read_product(product)
        compressed = len(zlib.compress(np.ascontiguousarray(classes).tobytes(), 9))
        compressed *= (h * w) / classes.size   # scale to the scene unit
        source = ("zlib level 9 of the given product" if not isinstance(product, (str, Path))
                  else f"zlib level 9 of {Path(product).name}")
        if classes.size != h * w:
            source += f" ({classes.shape[0]} x {classes.shape[1]} px, scaled to the scene)"
    return Downlink(raw, float(raw_bytes), raw_text, float(product_bytes), product_text,
                    None if compressed is None else float(compressed), source)


def read_product(product: str | Path | np.ndarray) -> np.ndarray:
    """A SOD class raster as uint8 [H, W]: an array, ``.npy``, or a GeoTIFF (band 1)."""
    if isinstance(product, np.ndarray):
        array = product
    else:
        path = Path(product)
        if not path.exists():
            raise DataError(f"{path}: SOD product not found")
        try:
            if path.suffix == ".npy":
                array = np.load(path, allow_pickle=False)
            else:
                import rasterio
                with rasterio.open(path) as src:
                    array = src.read(1)
        except Exception as exc:  # rasterio/numpy raise many types for a bad file
            raise DataError(f"{path}: cannot read the SOD product ({exc})") from None
    array = np.squeeze(np.asarray(array))
    if array.ndim != 2 or array.size == 0:
        raise DataError(f"SOD product of shape {array.shape}: expected one 2-D class raster")
    return array.astype(np.uint8, copy=False)


def downlink_per_plan(d: Downlink, plan: OrbitPlan) -> dict[str, Any]:
    """Per orbit and per day volumes and the saving (by the compressed size where known)."""
    product = d.product_compressed_bytes if d.product_compressed_bytes is not None \
        else d.product_bytes
    n = plan.scenes_per_orbit
    return {
        "raw_bytes_per_orbit": d.raw_bytes * n,
        "product_bytes_per_orbit": product * n,
        "raw_bytes_per_day": d.raw_bytes * n * plan.orbits_per_day,
        "product_bytes_per_day": product * n * plan.orbits_per_day,
        "saved_fraction": 1 - product / d.raw_bytes,
        "saved_bytes_per_day": (d.raw_bytes - product) * n * plan.orbits_per_day,
        "saved_mbit_per_s": (d.raw_bytes - product) * n * plan.orbits_per_day * 8 / DAY_S / 1e6,
        "product_basis": "compressed" if d.product_compressed_bytes is not None else "uncompressed",
    }
