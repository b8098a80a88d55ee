"""The per-layer Strategy / ReuseFactor YAML (``hls/layers.yml``) and the planner's settings.

The planner's defaults (candidate tiles, utilisation limits) are stated once, in the shipped
``hls/layers.yml``: a settings file that leaves a planner key out gets the shipped file's value.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

from tinyicenet.errors import ConfigError
from tinyicenet.resources import resource_dir
from tinyicenet.yamlfile import read_mapping

STRATEGIES = ("resource", "latency")
AUTO = "auto"
#: the resources a utilisation limit may name
LIMIT_RESOURCES = ("lut", "ff", "dsp", "bram36")


@dataclass(frozen=True)
class LayerSetting:
    strategy: str = "resource"
    reuse_factor: int | str = AUTO  # an int or "auto"

    @property
    def auto(self) -> bool:
        return self.reuse_factor == AUTO


@dataclass
class HlsSettings:
    """Everything ``layers.yml`` says."""

    defaults: LayerSetting = field(default_factory=LayerSetting)
    layers: dict[str, LayerSetting] = field(default_factory=dict)
    tiles: list[int] = field(default_factory=lambda: list(_shipped_planner()[0]))
    utilisation_limit: dict[str, float] = field(
        default_factory=lambda: dict(_shipped_planner()[1]))
    source: str = "defaults"

    def for_role(self, role: str) -> LayerSetting:
        return self.layers.get(role, self.defaults)


def default_settings_path() -> Path:
    return resource_dir("hls") / "layers.yml"


@functools.lru_cache(maxsize=None)
def _shipped_planner() -> tuple[tuple[int, ...], dict[str, float]]:
    """The planner defaults: tiles and utilisation limits of the shipped ``hls/layers.yml``."""
    p = default_settings_path()
    planner = read_mapping(p, "HLS settings").get("planner") or {}
    try:
        tiles = tuple(int(t) for t in planner["tiles"])
        limits = {str(k): float(v) for k, v in planner["utilisation_limit"].items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ConfigError(f"{p}: the shipped settings must state planner.tiles and "
                          "planner.utilisation_limit") from None
    return tiles, limits


def _layer(raw, base: LayerSetting, where: str) -> LayerSetting:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping with strategy / reuse_factor")
    unknown = sorted(set(raw) - {"strategy", "reuse_factor"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (valid: strategy, "
                          "reuse_factor)")
    strategy = str(raw.get("strategy", base.strategy)).lower()
    if strategy not in STRATEGIES:
        raise ConfigError(f"{where}: strategy {raw.get('strategy')!r} is not one of Resource, "
                          "Latency")
    rf = raw.get("reuse_factor", base.reuse_factor)
    if rf != AUTO and (isinstance(rf, bool) or not isinstance(rf, int) or rf < 1):
        raise ConfigError(f"{where}: reuse_factor {rf!r} must be a positive integer or 'auto'")
    return LayerSetting(strategy, rf)


def load_settings(path: str | os.PathLike[str] | None = None) -> HlsSettings:
    """Read and validate a layers YAML (default: the project's ``hls/layers.yml``)."""
    p = Path(path) if path is not None else default_settings_path()
    raw = read_mapping(p, "HLS settings")
    unknown = sorted(set(raw) - {"version", "defaults", "layers", "planner"})
    if unknown:
        raise ConfigError(f"{p}: unknown top-level key(s) {', '.join(unknown)}")
    if raw.get("version", 1) != 1:
        raise ConfigError(f"{p}: version {raw.get('version')!r} is not supported (use 1)")
    defaults = _layer(raw.get("defaults"), LayerSetting(), f"{p}: defaults")
    layers_raw = raw.get("layers") or {}
    if not isinstance(layers_raw, dict):
        raise ConfigError(f"{p}: layers must be a mapping role -> settings")
    layers = {str(k): _layer(v, defaults, f"{p}: layers.{k}") for k, v in layers_raw.items()}
    planner = raw.get("planner") or {}
    if not isinstance(planner, dict):
        raise ConfigError(f"{p}: planner must be a mapping")
    shipped_tiles, shipped_limits = _shipped_planner()
    tiles = planner.get("tiles", list(shipped_tiles))
    if (not isinstance(tiles, list) or not tiles
            or not all(isinstance(t, int) and not isinstance(t, bool) and t > 0 for t in tiles)):
        raise ConfigError(f"{p}: planner.tiles must be a list of positive integers")
    limits = dict(shipped_limits)
    given = planner.get("utilisation_limit") or {}
    if not isinstance(given, dict):
        raise ConfigError(f"{p}: planner.utilisation_limit must be a mapping")
    for key, value in given.items():
        if key not in LIMIT_RESOURCES:
            raise ConfigError(f"{p}: planner.utilisation_limit.{key} is not one of "
                              f"{', '.join(LIMIT_RESOURCES)}")
        if not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise ConfigError(f"{p}: planner.utilisation_limit.{key} = {value!r} must be in (0, 1]")
        limits[key] = float(value)
    unknown = sorted(set(planner) - {"tiles", "utilisation_limit"})
    if unknown:
        raise ConfigError(f"{p}: unknown planner key(s) {', '.join(unknown)} (valid: tiles, "
                          "utilisation_limit)")
    return HlsSettings(defaults, layers, sorted(set(tiles), reverse=True), limits, str(p))
