"""Plain helpers shared by test modules (import as ``from helpers import ...``)."""

from __future__ import annotations

import torch


def calibrated_model(name: str, seed: int = 0, size: int = 32):
    """``create_model(name)`` with activation scales calibrated on seeded noise, in eval mode."""
    from tinyicenet.models import calibrate, create_model

    torch.manual_seed(seed)
    model = create_model(name)
    calibrate(model, [torch.randn(4, 2, size, size) * 1.5 for _ in range(2)])
    return model.eval()


def fresh_seed(label: str) -> int:
    """A new seed every run, printed (pytest shows it on failure), for code that takes a seed
    (golden tiles, C-simulation inputs).

    Set ``TINYICENET_TEST_SEED`` to replay a failing run.
    """
    import os

    import numpy as np

    env = os.environ.get("TINYICENET_TEST_SEED")
    seed = int(env) if env else int(np.random.SeedSequence().entropy % (1 << 32))
    print(f"{label}: seed {seed} (replay with TINYICENET_TEST_SEED={seed})")
    return seed


def fresh_rng(label: str):
    """A numpy Generator seeded by :func:`fresh_seed`."""
    import numpy as np

    return np.random.default_rng(fresh_seed(label))


def quantiser_edge_input(rng, input_scale: float, h: int, w: int):
    """Float input ``[2, 2, h, w]`` (h >= 6, w >= 12) for the kernels' input quantisers: random
    values at a random scale, a saturated band (image 1, rows 0-5), exact ties of the
    quantisation step (image 0, channel 0, row 3: round half to even), and +inf, -inf, NaN
    (image 0, channel 1, row 5; the integer reference maps NaN to 0)."""
    import numpy as np

    x = (rng.standard_normal((2, 2, h, w)) * rng.uniform(0.5, 4)).astype(np.float32)
    x[1, :, :6] = 60.0
    step = np.float32(1 / input_scale)
    x[0, 0, 3, :12] = (np.arange(-6, 6) + 0.5) * step
    x[0, 1, 5, 3:6] = [np.inf, -np.inf, np.nan]
    return x


def run_main(capsys, *args):
    """``tinyicenet ARGS`` through ``tinyicenet.cli.main`` in this process, as a finished
    ``subprocess.CompletedProcess`` (exit status, stdout, stderr).

    The same argument parsing and error handling as ``python -m tinyicenet`` without a new
    interpreter (and its ~6 s of imports); each test file keeps at least one test of the real
    entry point.
    """
    import subprocess

    import pytest

    from tinyicenet.cli import main

    capsys.readouterr()
    with pytest.MonkeyPatch.context() as patch, pytest.raises(SystemExit) as exc:
        patch.delenv("TINYICENET_DEBUG", raising=False)
        main([str(a) for a in args])
    out = capsys.readouterr()
    return subprocess.CompletedProcess([str(a) for a in args], exc.value.code, out.out, out.err)
