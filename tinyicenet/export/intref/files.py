"""Integer model files: one ``.npz`` (arrays + JSON metadata) and a readable ``.json`` copy."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from tinyicenet.atomic import atomic_path
from tinyicenet.errors import ExportError
from tinyicenet.export.intref.arithmetic import FORMAT, VERSION, IntLayer, IntModel


def save_intref(model: IntModel, path: str | os.PathLike[str], *, sidecar: bool = True) -> Path:
    """Write ``path`` (.npz: arrays + JSON meta) and, if ``sidecar``, ``path`` with .json."""
    p = Path(path)
    if p.suffix != ".npz":
        raise ExportError(f"{p}: the integer model file must end in .npz")
    meta = model.meta()
    text = json.dumps(meta, indent=1)
    arrays: dict[str, np.ndarray] = {"meta": np.array(text)}
    for lay in model.conv_layers():
        arrays[f"{lay.name}.weight"] = lay.weight
        arrays[f"{lay.name}.bias"] = lay.bias
    with atomic_path(p) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    if sidecar:
        with atomic_path(p.with_suffix(".json")) as tmp:
            tmp.write_text(text + "\n")
    return p


def load_intref(path: str | os.PathLike[str]) -> IntModel:
    """Read an integer model written by :func:`save_intref`; problems raise ExportError."""
    p = Path(path)
    if not p.is_file():
        raise ExportError(f"{p}: integer model file not found")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays.pop("meta")))
    except Exception as exc:  # noqa: BLE001 - zip/npy/json errors all mean a bad file
        raise ExportError(f"{p}: not a readable integer model (corrupt or truncated?): "
                          f"{type(exc).__name__}: {str(exc)[:160]}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ExportError(f"{p}: not a tinyicenet integer model (format is not {FORMAT!r})")
    if meta.get("version") != VERSION:
        raise ExportError(f"{p}: integer model version {meta.get('version')!r} is not supported")
    layers = []
    try:
        for d in meta["layers"]:
            lay = IntLayer(**d)
            if lay.op == "conv":
                lay.weight = arrays[f"{lay.name}.weight"].astype(np.int8)
                lay.bias = arrays[f"{lay.name}.bias"].astype(np.int32)
                if lay.weight.shape[0] != lay.channels or lay.bias.shape != (lay.channels,):
                    raise ValueError(f"layer {lay.name} arrays do not match {lay.channels} "
                                     "output channels")
            layers.append(lay)
        return IntModel(layers=layers, model=meta["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError(f"{p}: inconsistent integer model: {exc}") from None
