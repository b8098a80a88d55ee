"""Which scene files train and validate, and loading them once at the working resolution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinyicenet.data.reader import expand_scene_paths  # noqa: F401 - lives in data now
from tinyicenet.errors import ConfigError, DataError
from tinyicenet.train.config import Config, DataConfig


def split_scenes(data: DataConfig) -> tuple[list[Path], list[Path]]:
    """Training and validation files: ``val`` if given, else the last ``val_count`` of train."""
    if not data.train:
        raise ConfigError("config key 'data.train' is empty: give training scene files or "
                          "folders (tinyicenet train --data DIR or --set data.train=DIR)")
    train = expand_scene_paths(data.train, "data.train")
    if data.val:
        val = expand_scene_paths(data.val, "data.val")
    elif data.val_count:
        if data.val_count >= len(train):
            raise ConfigError(f"config key 'data.val_count': {data.val_count} would leave no "
                              f"training scene out of {len(train)}")
        train, val = train[:-data.val_count], train[-data.val_count:]
    else:
        val = []
    return train, val


def load_scenes(paths: list[Path], cfg: Config, progress: Any = None,
                description: str = "loading scenes") -> list[dict]:
    """Load each scene once (tinyicenet.data.load_scene) with the config's variables, charts and
    downsampling; a scene without one of the model's charts is a DataError."""
    from tinyicenet.data import load_scene

    scenes = []
    task = progress.add_task(description, total=len(paths)) if progress and paths else None
    for path in paths:
        scene = load_scene(path, variables=tuple(cfg.data.variables),
                           charts=tuple(cfg.model.charts), downsample=cfg.data.downsample)
        missing = [c for c in cfg.model.charts if c not in scene]
        if missing:
            raise DataError(f"{path}: scene has no {', '.join(missing)} chart (labels) to "
                            "train or validate on")
        scenes.append(scene)
        if task is not None:
            progress.advance(task)
    if task is not None:
        progress.remove_task(task)
    return scenes
