"""Open AI4Arctic scene files unchanged and check them: one clear error per problem.

:class:`SceneReader` opens a ready-to-train (``*_prep.nc``, label rasters), raw (``*.nc``,
``polygon_icechart`` + ``polygon_codes``) or test input file (no labels; a ``*_prep_reference.nc``
beside it supplies them) with xarray/netCDF4 and reads full arrays or windows. Every problem
(missing path, not NetCDF, truncated, missing variable, wrong dimensions or dtype, all-NaN SAR,
label values outside the class tables) raises :class:`~tinyicenet.errors.DataError` with one line
naming the file and the problem.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from tinyicenet.data import layout as L
from tinyicenet.data.icechart import polygon_classes, rasterise
from tinyicenet.data.tables import class_table
from tinyicenet.errors import DataError

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_CDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05")

Window = tuple[slice, slice]


def scene_files(root: str | os.PathLike[str]) -> list[Path]:
    """Scene files in a folder, sorted: ``*.nc`` without ``*_prep_reference.nc`` and temporaries."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if root.is_file():
        return [root]
    return sorted(p for p in root.glob("*.nc")
                  if not p.name.startswith(".") and not p.name.endswith(L.REFERENCE_SUFFIX))


def expand_scene_paths(entries: list[str], key: str) -> list[Path]:
    """Files stay, folders become their scene files (:func:`scene_files`: ``*.nc``
    without test reference files); a missing path or an empty folder is a DataError."""
    paths: list[Path] = []
    for entry in entries:
        p = Path(entry).expanduser()
        if not p.exists():
            raise DataError(f"{p}: no such scene file or folder (config key {key})")
        found = scene_files(p)
        if not found:
            raise DataError(f"{p}: folder holds no scene files (*.nc) (config key {key})")
        paths.extend(found)
    return paths


def _hdf5_eof(path: Path, head: bytes) -> int | None:
    """End-of-file address recorded in an HDF5 superblock (None if it cannot be parsed)."""
    try:
        version = head[8]
        if version in (0, 1):
            size_offsets = head[13]
            start = 24 + (4 if version == 1 else 0)
            fmt = {4: "<I", 8: "<Q"}.get(size_offsets)
            if fmt is None:
                return None
            return struct.unpack_from(fmt, head, start + 2 * size_offsets)[0]
        if version in (2, 3):
            size_offsets = head[9]
            fmt = {4: "<I", 8: "<Q"}.get(size_offsets)
            if fmt is None:
                return None
            return struct.unpack_from(fmt, head, 12 + 2 * size_offsets)[0]
    except (IndexError, struct.error):
        return None
    return None


def check_file(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` is an existing, complete NetCDF file; return it as a Path."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, expected a NetCDF scene file")
    try:
        with open(path, "rb") as f:
            head = f.read(128)
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if head.startswith(_HDF5_MAGIC):
        eof = _hdf5_eof(path, head)
        size = path.stat().st_size
        if eof is not None and size < eof:
            raise DataError(f"{path}: truncated NetCDF file ({size} of {eof} bytes)")
    elif not head.startswith(_CDF_MAGIC):
        raise DataError(f"{path}: not a NetCDF file")
    return path


def _expect_dims(path: Path, name: str, dims: tuple[str, ...], expected: tuple[str, ...]) -> None:
    if tuple(dims) != tuple(expected):
        raise DataError(f"{path}: variable {name} has dimensions ({', '.join(dims)}), expected "
                        f"({', '.join(expected)})")


class SceneReader:
    """An open scene file: its kind, shape and attributes; reads variables, windows and charts."""

    def __init__(self, path: str | os.PathLike[str],
                 reference: str | os.PathLike[str] | None = None):
        import xarray as xr

        self.path = check_file(path)
        try:
            # no automatic masking: labels stay uint8 (255 is a class-table value, not NaN)
            self.ds = xr.open_dataset(self.path, engine="netcdf4", mask_and_scale=False,
                                      decode_times=False, cache=False)
        except Exception as exc:  # netCDF4/HDF5 raise OSError, RuntimeError, ValueError
            raise DataError(f"{self.path}: cannot open NetCDF file (corrupt or truncated?): "
                            f"{_short(exc)}") from None
        self.labels = self.ds
        ref = Path(reference) if reference else self._reference_beside()
        if ref is not None:
            try:
                self.labels = xr.open_dataset(check_file(ref), engine="netcdf4",
                                              mask_and_scale=False, decode_times=False, cache=False)
            except DataError:
                raise
            except Exception as exc:
                raise DataError(f"{ref}: cannot open NetCDF file: {_short(exc)}") from None
        for dim in L.SAR_DIMS:
            if dim not in self.ds.dims:
                raise DataError(f"{self.path}: no {dim} dimension (not an AI4Arctic scene?)")
        self.shape = (int(self.ds.sizes[L.SAR_DIMS[0]]), int(self.ds.sizes[L.SAR_DIMS[1]]))
        if min(self.shape) < 1:
            raise DataError(f"{self.path}: empty SAR grid {self.shape}")
        if L.POLYGON_ICECHART in self.ds.variables:
            self.kind = "raw"
        elif any(c in self.labels.variables for c in L.CHARTS):
            self.kind = "rtt"
        else:
            self.kind = "input"  # test input without labels
        self._polygons: dict[str, dict[int, int]] | None = None
        self._threshold = None

    # -- context manager -----------------------------------------------------------------------
    def __enter__(self) -> SceneReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.ds.close()
        if self.labels is not self.ds:
            self.labels.close()

    def _reference_beside(self) -> Path | None:
        name = self.path.name
        if name.endswith(L.RTT_SUFFIX):
            ref = self.path.with_name(name[: -len(L.RTT_SUFFIX)] + L.REFERENCE_SUFFIX)
            if ref.exists():
                return ref
        return None

    # -- attributes ----------------------------------------------------------------------------
    @property
    def attrs(self) -> dict:
        return dict(self.ds.attrs)

    @property
    def pixel_spacing(self) -> float:
        value = self.ds.attrs.get("pixel_spacing")
        if value is None:
            return L.RAW_PIXEL_SPACING_M if self.kind == "raw" else L.RTT_PIXEL_SPACING_M
        try:
            return float(np.asarray(value).ravel()[0])
        except (TypeError, ValueError):
            raise DataError(f"{self.path}: attribute pixel_spacing is not a number: "
                            f"{value!r}") from None

    @property
    def scene_id(self) -> str:
        sid = self.ds.attrs.get("scene_id")
        if sid:
            return str(sid)
        name = self.path.name
        return name[: -len(L.RTT_SUFFIX)] if name.endswith(L.RTT_SUFFIX) else self.path.stem

    @property
    def ice_service(self) -> str:
        return str(self.ds.attrs.get("ice_service", "unknown"))

    @property
    def charts(self) -> tuple[str, ...]:
        """Charts this file provides (all three for raw files)."""
        if self.kind == "raw":
            return L.CHARTS
        return tuple(c for c in L.CHARTS if c in self.labels.variables)

    # -- variables -----------------------------------------------------------------------------
    def _variable(self, name: str, source=None):
        ds = self.ds if source is None else source
        if name not in ds.variables:
            raise DataError(f"{self.path}: missing variable {name}")
        return ds[name]

    def read(self, name: str, window: Window | None = None) -> np.ndarray:
        """A model-input variable as float32 (NaN where missing); ``window`` on the SAR grid."""
        da = self._variable(name)
        grid = L.grid_of(name) if name in L.ALL_INPUT_VARIABLES else "sar"
        expected = L.SAR_DIMS if grid == "sar" else L.GRID_2KM_DIMS
        _expect_dims(self.path, name, da.dims, expected)
        if da.dtype.kind not in "fiu":
            raise DataError(f"{self.path}: variable {name} has dtype {da.dtype}, expected numbers")
        if window is not None and grid == "sar":
            da = da[window]
        values = self._load(da, name)
        return _decode_float(values, da.attrs)

    def _load(self, da, name: str) -> np.ndarray:
        try:
            return np.asarray(da.values)
        except Exception as exc:
            raise DataError(f"{self.path}: cannot read variable {name} (truncated or corrupt "
                            f"file?): {_short(exc)}") from None

    def read_charts(self, charts: Iterable[str], window: Window | None = None,
                    threshold: float | Mapping[str, float] | None = None,
                    check: bool = True, compat: str | None = None) -> dict[str, np.ndarray]:
        """Label rasters (uint8, 255 = ignore) for ``charts``, from rasters or polygon codes
        (raw files: ``compat`` picks the conversion rule, see tinyicenet.data.icechart)."""
        charts = tuple(charts)
        out: dict[str, np.ndarray] = {}
        if self.kind == "raw":
            per_polygon = self.polygon_classes(threshold, compat)
            da = self._variable(L.POLYGON_ICECHART)
            _expect_dims(self.path, L.POLYGON_ICECHART, da.dims, L.SAR_DIMS)
            ids = self._load(da[window] if window is not None else da, L.POLYGON_ICECHART)
            ids = _decode_float(ids, da.attrs) if ids.dtype.kind == "f" else ids
            for c in charts:
                out[c] = rasterise(ids, per_polygon[c])
            return out
        for c in charts:
            if c not in self.labels.variables:
                raise DataError(f"{self.path}: missing chart {c} (file has: "
                                f"{', '.join(self.charts) or 'no labels'})")
            da = self.labels[c]
            _expect_dims(self.path, c, da.dims, L.SAR_DIMS)
            if tuple(int(self.labels.sizes[d]) for d in L.SAR_DIMS) != self.shape:
                raise DataError(f"{self.path}: chart {c} grid does not match the SAR grid "
                                f"{self.shape}")
            values = self._load(da[window] if window is not None else da, c)
            if values.dtype.kind == "f":  # a file that stores labels as floats with NaN fill
                values = np.where(np.isfinite(values), values, L.LABEL_FILL)
                if np.any(values != np.round(values)):
                    raise DataError(f"{self.path}: chart {c} holds non-integer values")
            elif values.dtype.kind not in "iu":
                raise DataError(f"{self.path}: chart {c} has dtype {values.dtype}, expected uint8")
            if check:
                check_labels(values, c, self.path)
            out[c] = values.astype(np.uint8)
        return out

    def polygon_classes(self, threshold=None, compat: str | None = None
                        ) -> dict[str, dict[int, int]]:
        """Per polygon id, its SIC/SOD/FLOE class (raw files), computed once per threshold."""
        if self._polygons is None or self._threshold != (threshold, compat):
            codes = self._load(self._variable(L.POLYGON_CODES), L.POLYGON_CODES)
            codes = [c.decode() if isinstance(c, bytes) else str(c) for c in np.ravel(codes)]
            self._polygons = polygon_classes(codes, threshold, source=f"{self.path}: polygon_codes",
                                             compat=compat)
            self._threshold = (threshold, compat)
        return self._polygons

    def tiepoints(self) -> dict[str, np.ndarray] | None:
        """Tie-point ``lat``/``lon`` [ny, nx] with their ``lines`` [ny] and ``samples`` [nx]
        positions on the SAR grid, or None when the file has none."""
        ds = self.ds
        h, w = self.shape
        if L.LATITUDE in ds.variables and L.LONGITUDE in ds.variables:
            lat, lon = ds[L.LATITUDE], ds[L.LONGITUDE]
            if set(lat.dims) == set(L.TIEPOINT_DIMS):  # either storage order, read by name
                lat, lon = lat.transpose(*L.TIEPOINT_DIMS), lon.transpose(*L.TIEPOINT_DIMS)
            lat_v = self._load(lat, L.LATITUDE).astype(np.float64)
            lon_v = self._load(lon, L.LONGITUDE).astype(np.float64)
            if lat_v.ndim != 2 or lat_v.shape != lon_v.shape:
                raise DataError(f"{self.path}: {L.LATITUDE} and {L.LONGITUDE} are not one 2-D grid")
            # RTT: evenly distributed over the scene (no position variables in the files)
            return {"lat": lat_v, "lon": lon_v,
                    "lines": np.linspace(0, h - 1, lat_v.shape[0]),
                    "samples": np.linspace(0, w - 1, lat_v.shape[1])}
        if all(v in ds.variables for v in L.RAW_TIEPOINT_VARIABLES[:4]):
            line, sample, lat, lon = (self._load(ds[v], v).astype(np.float64).ravel()
                                      for v in L.RAW_TIEPOINT_VARIABLES[:4])
            lines, samples = np.unique(line), np.unique(sample)
            if lines.size * samples.size == line.size:  # a regular grid: reshape it
                order = np.lexsort((sample, line))
                shape = (lines.size, samples.size)
                return {"lat": lat[order].reshape(shape), "lon": lon[order].reshape(shape),
                        "lines": lines, "samples": samples}
            return {"lat": lat, "lon": lon, "lines": line, "samples": sample}
        return None


def _decode_float(values: np.ndarray, attrs: Mapping) -> np.ndarray:
    """Apply CF packing and fill values by hand (the file is opened without masking)."""
    values = np.asarray(values)
    fill = attrs.get("_FillValue", attrs.get("missing_value"))
    scale, offset = attrs.get("scale_factor"), attrs.get("add_offset")
    out = values.astype(np.float32, copy=values.dtype != np.float32)
    if fill is not None:
        fill = np.asarray(fill).ravel()[0]
        if not (np.asarray(fill).dtype.kind == "f" and np.isnan(fill)):
            out[values == np.asarray(fill).astype(values.dtype)] = np.nan
    if scale is not None:
        out *= np.float32(scale)
    if offset is not None:
        out += np.float32(offset)
    return out


def check_labels(values: np.ndarray, chart: str, path: str | os.PathLike[str]) -> None:
    """Raise DataError if ``values`` hold classes outside the chart's table (255 allowed)."""
    n = class_table(chart).n_classes
    arr = np.asarray(values)
    if arr.dtype.kind == "f":
        arr = arr.astype(np.int64)
    if arr.dtype == np.uint8:
        counts = np.bincount(arr.ravel(), minlength=256)
        bad = [v for v in np.nonzero(counts)[0] if n <= v < L.LABEL_FILL]
    else:
        uniq = np.unique(arr)
        bad = [int(v) for v in uniq if (v < 0 or v >= n) and v != L.LABEL_FILL]
    if bad:
        shown = ", ".join(str(int(v)) for v in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise DataError(f"{path}: {chart} has values outside the class table (0-{n - 1} and "
                        f"{L.LABEL_FILL} = ignore): {shown}")


def validate_scene(path: str | os.PathLike[str], variables: Sequence[str] = L.DEFAULT_VARIABLES,
                   charts: Sequence[str] | None = None) -> None:
    """Check a scene file completely (reads its data); raise DataError on the first problem."""
    with SceneReader(path) as reader:
        for name in variables:
            values = reader.read(name)
            if name in L.SAR_VARIABLES and not np.isfinite(values).any():
                raise DataError(f"{reader.path}: {name} has no valid pixel (all NaN)")
        wanted = reader.charts if charts is None else tuple(charts)
        if reader.kind != "input" or charts:
            reader.read_charts(wanted)


def open_scene(path: str | os.PathLike[str]) -> SceneReader:
    """Open a scene file for reading (see :class:`SceneReader`)."""
    return SceneReader(path)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 160 else text[:157] + "..."
