"""Brevitas as an optional import: the float model needs only torch.

A GPU machine may carry torch alone; the float TinyIceNet, its checkpoints and the summary work
there. Brevitas is imported only when a quantized model is built (or its checkpoint loaded), and
its absence is then one clear error naming the package.
"""

from __future__ import annotations

import contextlib
import importlib
import warnings
from collections.abc import Iterator
from types import ModuleType

from tinyicenet.errors import ToolNotFoundError

#: the Brevitas release the project is verified with (constraints.txt pins the same)
BREVITAS_PIN = "brevitas==0.13.4"


#: What Brevitas says while importing its graph tools (``brevitas.graph``, which
#: ``brevitas.graph.calibrate`` and ``brevitas.export`` pull in): an optional CUDA kernel package
#: for Hadamard rotations and its own internal use of the deprecated ``brevitas.fx``. Neither
#: concerns per-tensor fixed-point layers; they are silenced by message, nothing else is.
BREVITAS_IMPORT_NOTICES: tuple[tuple[type[Warning], str], ...] = (
    (UserWarning, r"fast_hadamard_transform package not found"),
    (DeprecationWarning, r"brevitas\.fx is deprecated"),
)


@contextlib.contextmanager
def quiet_brevitas_import() -> Iterator[None]:
    """Import Brevitas modules inside this block without :data:`BREVITAS_IMPORT_NOTICES`."""
    with warnings.catch_warnings():
        for category, message in BREVITAS_IMPORT_NOTICES:
            warnings.filterwarnings("ignore", message=message, category=category)
        yield


class MissingDependencyError(ToolNotFoundError, ImportError):
    """A Python package a feature needs is not importable here.

    Also an ImportError, so code that probes optional features with ``except ImportError``
    treats it like the failed import it stands for.
    """


def brevitas_available() -> bool:
    """Whether Brevitas imports here (quantized models can be built)."""
    try:
        require_brevitas("probe")
    except MissingDependencyError:
        return False
    return True


def require_brevitas(what: str) -> ModuleType:
    """Import Brevitas for ``what`` (e.g. "model 'tinyicenet_w4a4'") or raise one clear line."""
    try:
        return importlib.import_module("brevitas")
    except ImportError as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name == "brevitas":
            reason = "is not installed here"
        else:  # installed but broken (e.g. built for another torch): say what failed
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            reason = f"cannot be imported here ({first[:200]})"
        raise MissingDependencyError(
            f"{what} needs the Python package 'brevitas', which {reason}: install it with "
            f"`pip install {BREVITAS_PIN}`; the float model (tinyicenet_float) works without it",
            name="brevitas") from None
