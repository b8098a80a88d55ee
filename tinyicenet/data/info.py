"""Per-scene summary: size, pixel spacing, ice service, valid fraction, SOD class histogram."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import numpy as np

from tinyicenet.data import layout as L
from tinyicenet.data.reader import SceneReader
from tinyicenet.data.tables import class_table
from tinyicenet.errors import DataError


@dataclass
class SceneInfo:
    """What ``tinyicenet data info`` shows for one file."""

    path: str
    scene_id: str
    kind: str  # rtt | raw | input
    lines: int
    samples: int
    pixel_spacing_m: float
    ice_service: str
    valid_fraction: float  # HH and HV present
    sod_histogram: dict[str, int] | None = field(default=None)  # class name -> valid pixels

    @property
    def extent_km(self) -> tuple[float, float]:
        km = self.pixel_spacing_m / 1000
        return (self.lines * km, self.samples * km)

    def as_dict(self) -> dict:
        return asdict(self)


def scene_info(path: str | os.PathLike[str]) -> SceneInfo:
    """Read and check one scene file fully; raise DataError naming the problem."""
    with SceneReader(path) as reader:
        hh, hv = reader.read(L.HH), reader.read(L.HV)
        for name, values in ((L.HH, hh), (L.HV, hv)):
            if not np.isfinite(values).any():
                raise DataError(f"{reader.path}: {name} has no valid pixel (all NaN)")
        valid = np.isfinite(hh) & np.isfinite(hv)
        del hh, hv
        histogram = None
        if "SOD" in reader.charts:
            charts = reader.read_charts(("SIC", "SOD", "FLOE") if reader.kind == "rtt"
                                        else ("SOD",))
            for name, values in charts.items():  # every chart is checked, SOD is summarised
                if name != "SOD":
                    continue
                sod = np.where(valid, values, L.LABEL_FILL).astype(np.uint8)
                counts = np.bincount(sod.ravel(), minlength=256)
                table = class_table("SOD")
                histogram = {table.names[k]: int(counts[k]) for k in range(table.n_classes)}
                histogram["ignore"] = int(counts[L.LABEL_FILL])
        return SceneInfo(path=str(reader.path), scene_id=reader.scene_id, kind=reader.kind,
                         lines=reader.shape[0], samples=reader.shape[1],
                         pixel_spacing_m=reader.pixel_spacing, ice_service=reader.ice_service,
                         valid_fraction=float(valid.mean()), sod_histogram=histogram)
