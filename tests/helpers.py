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
