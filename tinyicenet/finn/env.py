"""The FINN+ environment: a separate virtual environment, created from a pinned requirements file.

FINN+ 1.6.1 (``finn-plus`` on PyPI) pins onnx 1.21, onnxruntime 1.25.1, protobuf 5.29.6,
rich < 14, pandas < 2.4, scikit-learn < 1.8 and brevitas 0.13.0; the main environment runs newer
releases of most of these and brevitas 0.13.4 (0.13.0 does not run on torch 2.13). So FINN+ lives
in its own environment, the way FINN normally runs in its own container, and tinyicenet exchanges
only files with it (:mod:`tinyicenet.finn.flow`).

Location: ``$TINYICENET_FINN_ENV`` if set, else ``<user cache dir>/tinyicenet/finn-env``
(``$XDG_CACHE_HOME`` or ``~/.cache``). ``tinyicenet board finn --setup`` creates it:
``torch==2.13.0`` (the CPU build) first, then ``requirements.txt`` (FINN+'s declared requirements
minus brevitas, plus psutil and hls4ml), then ``finn-plus==1.6.1 --no-deps``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tinyicenet.errors import ConfigError, ToolNotFoundError

FINN_PLUS = "finn-plus==1.6.1"
TORCH = "torch==2.13.0"
REQUIREMENTS = Path(__file__).with_name("requirements.txt")
ENV_VAR = "TINYICENET_FINN_ENV"
#: the file the setup writes last: an environment without it is incomplete
MARKER = "tinyicenet-finn-env.txt"


def env_dir() -> Path:
    """Where the FINN environment is (or would be created)."""
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "tinyicenet" / "finn-env"


def env_python(env: Path | None = None) -> Path:
    """The FINN environment's python; ToolNotFoundError (saying how to create it) if absent."""
    env = env or env_dir()
    python = env / "bin" / "python"
    if not python.is_file() or not (env / MARKER).is_file():
        raise ToolNotFoundError(f"no FINN+ environment at {env} (create it with "
                                f"`tinyicenet board finn --setup`, or set ${ENV_VAR})")
    return python


def available(env: Path | None = None) -> bool:
    """Whether a complete FINN environment exists."""
    try:
        env_python(env)
    except ToolNotFoundError:
        return False
    return True


def _pip(python: Path, args: list[str], quiet: bool) -> None:
    cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", *args]
    if quiet:
        cmd.insert(4, "-q")
    proc = subprocess.run(cmd, capture_output=quiet, text=True)
    if proc.returncode:
        tail = (proc.stderr or "").strip().splitlines()[-1:] if quiet else []
        raise ToolNotFoundError(f"pip install {' '.join(args[:2])} into {python.parent.parent} "
                                f"failed ({tail[0] if tail else 'see the output above'})")


def setup_env(env: Path | None = None, *, quiet: bool = False, force: bool = False) -> dict:
    """Create the FINN environment (atomically: built beside it, renamed at the end).

    Returns ``{"env", "seconds", "bytes"}``. An existing complete environment is kept unless
    ``force``.
    """
    from tinyicenet.progress import info

    env = env or env_dir()
    if available(env) and not force:
        info(f"FINN+ environment already at {env}", quiet)
        return {"env": str(env), "seconds": 0.0, "bytes": _size(env)}
    if env.exists() and not (env / MARKER).is_file() and any(env.iterdir()):
        if not force and not (env / "bin" / "python").exists():
            raise ConfigError(f"{env} exists and is not a FINN environment; remove it or set "
                              f"${ENV_VAR}")
    env.parent.mkdir(parents=True, exist_ok=True)
    tmp = env.with_name(env.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    start = time.perf_counter()
    try:
        info(f"creating the FINN+ environment in {env} (torch CPU, FINN+'s pins, {FINN_PLUS})",
             quiet)
        # built beside its final place and renamed on success; only `python -m` is used
        # afterwards, which a moved venv supports (console-script shebangs would not follow)
        subprocess.run([sys.executable, "-m", "venv", str(tmp)], check=True)
        python = tmp / "bin" / "python"
        constraint = tmp / "torch-constraint.txt"
        constraint.write_text(TORCH + "\n")
        _pip(python, [TORCH], quiet)
        _pip(python, ["-r", str(REQUIREMENTS), "-c", str(constraint)], quiet)
        _pip(python, [FINN_PLUS, "--no-deps"], quiet)
        check = subprocess.run([str(python), "-c", "import finn, qonnx, hls4ml, psutil"],
                               capture_output=True, text=True)
        if check.returncode:
            raise ToolNotFoundError(f"the new FINN+ environment cannot import FINN+: "
                                    f"{check.stderr.strip().splitlines()[-1:]}")
        (tmp / MARKER).write_text(f"{FINN_PLUS}\n{TORCH}\nrequirements: {REQUIREMENTS.name}\n")
        if env.exists():
            shutil.rmtree(env)
        os.replace(tmp, env)
    except subprocess.CalledProcessError as exc:
        raise ToolNotFoundError(f"cannot create a virtual environment at {tmp}: {exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.perf_counter() - start
    size = _size(env)
    info(f"FINN+ environment ready at {env} ({seconds:.0f} s, {size / 2**30:.1f} GiB)", quiet)
    return {"env": str(env), "seconds": seconds, "bytes": size}


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
