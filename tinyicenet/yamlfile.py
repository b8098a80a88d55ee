"""Reading one YAML mapping with one-line errors (the HLS settings and the training configs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tinyicenet.errors import ConfigError


def read_mapping(path: Path, what: str) -> dict[str, Any]:
    """The top-level mapping of the YAML file ``path`` ({} for an empty file); a ConfigError
    of one line, naming ``what`` (e.g. "HLS settings"), for a file that is missing, unreadable,
    not YAML (with its line) or not a mapping."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the {what} file ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{path}{where}: invalid YAML in the {what} file ({problem})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the {what} file's top level must be a mapping")
    return data
