"""The Triton kernels themselves, run by Triton's CPU interpreter, equal the integer reference.

Every design (gen1: quantise + per-conv kernels; gen2: fused quantiser, parity decoders; gen3:
quad decoder; gen4: windowed input; gen5: one-plane quad decoder for w8) on small odd-sized
inputs.

Runs wherever Triton is importable (no GPU needed), in a subprocess because the interpreter is
chosen when the kernels are defined (TRITON_INTERPRET=1); skipped where Triton is missing (the
CPU build of PyTorch in CI does not bring it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("triton")

SCRIPT = textwrap.dedent("""
    import numpy as np, torch
    from tinyicenet.kernels.runner import IntTinyIceNetGPU
    from tinyicenet.kernels.synthetic import random_intmodel
    rng = np.random.default_rng(23)
    bad = 0
    for wb, ab, skips, shape in [(8, 8, True, (2, 2, 16, 32)), (4, 4, False, (1, 2, 20, 12)),
                                 (8, 8, True, (1, 2, 12, 36))]:
        m = random_intmodel(weight_bits=wb, act_bits=ab, skips=skips,
                            seed=int(rng.integers(1 << 30)))
        x = (rng.standard_normal(shape) * 3).astype(np.float32)
        ref = m.run_int(m.quantize_input(x))
        got = IntTinyIceNetGPU(m, device="cpu", design="gen1").forward_int(
            torch.from_numpy(x)).numpy()
        bad += int((got.astype(np.int64) != ref).sum())
        assert len(np.unique(ref)) > 4
    # second-generation designs: fused quantiser, parity decoders (gen2), quad decoder (gen3),
    # w8 (two weight planes) and w4 (one), with and without skips, odd tile remainders
    for design, wb, ab, skips, shape in [("gen2", 8, 8, True, (1, 2, 12, 36)),
                                         ("gen2", 4, 4, False, (1, 2, 20, 12)),
                                         ("gen3", 8, 8, True, (2, 2, 16, 20)),
                                         ("gen3", 4, 4, False, (1, 2, 8, 44)),
                                         ("gen4", 8, 8, True, (2, 2, 12, 20)),
                                         ("gen4", 4, 4, False, (1, 2, 8, 36)),
                                         ("gen4", 8, 8, True, (1, 3, 8, 20)),
                                         ("gen5", 8, 8, True, (2, 2, 16, 20)),
                                         ("gen5", 8, 8, False, (1, 2, 8, 12))]:
        m = random_intmodel(weight_bits=wb, act_bits=ab, skips=skips, in_channels=shape[1],
                            seed=int(rng.integers(1 << 30)))
        x = (rng.standard_normal(shape) * 3).astype(np.float32)
        x[..., :3, :] *= 30  # saturating rows
        ref = m.run_int(m.quantize_input(x))
        got = IntTinyIceNetGPU(m, device="cpu", design=design).forward_int(
            torch.from_numpy(x)).numpy()
        bad += int((got.astype(np.int64) != ref).sum())
        assert len(np.unique(ref)) > 4
    # gen5 with two 64-channel chunks per low-resolution tap (decoder0 reads 128 channels)
    m = random_intmodel(widths=(16, 128, 64), seed=int(rng.integers(1 << 30)))
    x = (rng.standard_normal((1, 2, 8, 12)) * 3).astype(np.float32)
    got = IntTinyIceNetGPU(m, device="cpu", design="gen5").forward_int(torch.from_numpy(x))
    bad += int((got.numpy().astype(np.int64) != m.run_int(m.quantize_input(x))).sum())
    IntTinyIceNetGPU.LARGE_PIXELS = 0  # the per-stage shapes used for large inputs
    m = random_intmodel(seed=int(rng.integers(1 << 30)))
    x = (rng.standard_normal((1, 2, 16, 40)) * 3).astype(np.float32)
    for design in ("gen1", "gen3", "gen4", "gen5"):
        got = IntTinyIceNetGPU(m, device="cpu", design=design).forward_int(
            torch.from_numpy(x)).numpy()
        bad += int((got.astype(np.int64) != m.run_int(m.quantize_input(x))).sum())
    # the default ("auto") where gen6's CUDA C++ cannot run (here: no CUDA): the Triton-only
    # fallback, gen3 below plan.AUTO_PIXELS pixels per call, gen4 from there
    import tinyicenet.kernels.plan as P
    P.AUTO_PIXELS = 1000
    auto = IntTinyIceNetGPU(m, device="cpu")
    for n, want in ((1, "gen3"), (2, "gen4")):     # 640 and 1280 pixels
        xn = (rng.standard_normal((n, 2, 16, 40)) * 3).astype(np.float32)
        got = auto.forward_int(torch.from_numpy(xn)).numpy()
        bad += int((got.astype(np.int64) != m.run_int(m.quantize_input(xn))).sum())
        assert auto.state(n, 16, 40).low.design == want
    print("DIFFERING", bad)
""")


@pytest.mark.slow
def test_triton_kernels_in_the_interpreter_equal_intref():
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "DIFFERING 0" in proc.stdout
