"""Torch backend options: ``compile``, device-resident ``prepare``/``run_prepared``; the cuda
bench target built on them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tinyicenet.backends import get_backend
from tinyicenet.backends.torch_backend import COMPILE_MODES
from tinyicenet.bench.workload import BackendWorkload
from tinyicenet.errors import ConfigError, DataError
from tinyicenet.models import calibrate, create_model


def _float_model(widths=(8, 16, 32), seed=0):
    torch.manual_seed(seed)
    return create_model("tinyicenet_float", widths=widths).eval()


@pytest.fixture()
def tiles():
    return np.random.default_rng(3).standard_normal((3, 2, 32, 32)).astype(np.float32)


class CompileRecorder:
    """Stands in for torch.compile: records the call, returns a wrapper that counts calls."""

    def __init__(self):
        self.kwargs, self.calls = None, 0

    def __call__(self, module, **kwargs):
        self.kwargs = kwargs

        def compiled(x):
            self.calls += 1
            return module(x)
        return compiled


def test_compile_option_is_validated(tiles):
    with pytest.raises(ConfigError, match="compile mode 'fastest'.*max-autotune"):
        get_backend("torch", _float_model(), compile="fastest")
    torch.manual_seed(0)
    q = create_model("tinyicenet_w4a4", widths=(8, 16, 32))
    calibrate(q, [torch.from_numpy(tiles)])
    with pytest.raises(ConfigError, match="compile is for the float model"):
        get_backend("torch", q, compile="default")
    assert "compile" in get_backend("torch", _float_model()).option_names()
    assert set(COMPILE_MODES) >= {"default", "max-autotune"}


def test_compile_option_reaches_torch_compile(monkeypatch, tiles):
    rec = CompileRecorder()
    monkeypatch.setattr(torch, "compile", rec)
    model = _float_model()
    eager = get_backend("torch", model).run(tiles)
    be = get_backend("torch", model, compile="max-autotune")
    assert rec.kwargs == {"mode": "max-autotune", "dynamic": False}
    assert be.model is model and be.compile_mode == "max-autotune"
    assert any("max-autotune" in n for n in be.notes)
    np.testing.assert_array_equal(be.run(tiles), eager)
    out = be.run_prepared(be.prepare(tiles))
    assert rec.calls == 2   # both paths call the compiled module, not the eager one
    np.testing.assert_array_equal(out.numpy(), eager)
    # eager by default: torch.compile is not touched
    rec2 = CompileRecorder()
    monkeypatch.setattr(torch, "compile", rec2)
    get_backend("torch", model).run(tiles)
    assert rec2.kwargs is None and rec2.calls == 0


def test_prepare_and_run_prepared_match_run(tiles):
    model = _float_model()
    be = get_backend("torch", model)
    x = be.prepare(tiles)
    assert isinstance(x, torch.Tensor) and x.device.type == "cpu" and x.dtype == torch.float32
    y = be.run_prepared(x)
    be.synchronize()
    assert isinstance(y, torch.Tensor) and y.shape == (3, 6, 32, 32)
    np.testing.assert_array_equal(y.numpy(), be.run(tiles))
    # fp16 + channels_last: the prepared tensor is already in the compute dtype and layout
    half = get_backend("torch", model, dtype="fp16", channels_last=True)
    xh = half.prepare(tiles)
    assert xh.dtype == torch.float16 and xh.is_contiguous(memory_format=torch.channels_last)
    yh = half.run_prepared(xh)
    assert yh.dtype == torch.float16
    np.testing.assert_array_equal(yh.float().numpy(), half.run(tiles))
    # a float32 tensor made elsewhere on the device is converted, not refused
    np.testing.assert_array_equal(half.run_prepared(torch.from_numpy(tiles)).float().numpy(),
                                  yh.float().numpy())


def test_quantized_model_prepared_path_is_exact(tiles):
    torch.manual_seed(1)
    q = create_model("tinyicenet_w4a4", widths=(8, 16, 32))
    calibrate(q, [torch.from_numpy(tiles) * 2])
    be = get_backend("torch", q)
    np.testing.assert_array_equal(be.run_prepared(be.prepare(tiles)).numpy(), be.run(tiles))


def test_prepared_path_rejects_bad_inputs(tiles):
    be = get_backend("torch", _float_model())
    with pytest.raises(DataError, match="float32"):
        be.prepare(tiles.astype(np.float64))
    with pytest.raises(DataError, match="prepare"):
        be.run_prepared(tiles)
    with pytest.raises(DataError, match="3 channels"):
        be.run_prepared(torch.zeros(1, 3, 32, 32))
    with pytest.raises(DataError, match="stride 4"):
        be.run_prepared(torch.zeros(1, 2, 30, 32))
    with pytest.raises(DataError, match="floating point"):
        be.run_prepared(torch.zeros(1, 2, 32, 32, dtype=torch.int32))
    be.close()
    with pytest.raises(ConfigError, match="after close"):
        be.run(tiles)


def test_bench_workload_keeps_tiles_prepared(tiles):
    be = get_backend("torch", _float_model())
    calls = []
    be.model.register_forward_pre_hook(lambda _module, args: calls.append(args[0]))

    def no_host_path(_):
        raise AssertionError("the workload must not call run() when prepare() exists")
    be.run = no_host_path
    workload = BackendWorkload(be, tiles, model="tinyicenet_float")
    assert any("resident" in n for n in workload.notes)
    workload.run()
    workload.run()
    workload.synchronize()
    # the same prepared tensor every call: no per-call host conversion
    assert len(calls) == 2 and calls[0] is calls[1]


def test_cuda_target_variants_use_backend_options(monkeypatch, tiles):
    from tinyicenet.bench.targets import TargetOptions
    from tinyicenet.bench.targets.common import backend_workload
    from tinyicenet.bench.targets.cuda import VARIANTS, variants

    backend, opts = VARIANTS["compile-fp16"]
    assert backend == "torch" and opts["compile"] == "max-autotune" and opts["dtype"] == "fp16"
    assert all("compile" not in o for n, (_, o) in VARIANTS.items() if n.startswith("eager"))
    # the same path as the GPU run, on the CPU and with torch.compile recorded
    rec = CompileRecorder()
    monkeypatch.setattr(torch, "compile", rec)
    options = TargetOptions(batch=2, tile=(32, 32))
    workload = backend_workload("torch", options, tiles[:2], variant="compile-fp16",
                                **{**opts, "device": "cpu", "dtype": "fp32"})
    try:
        assert rec.kwargs["mode"] == "max-autotune"
        assert any("torch.compile" in n for n in workload.notes)
        assert any("resident" in n for n in workload.notes)
        workload.run()
        workload.synchronize()
        assert rec.calls == 1
    finally:
        workload.close()
    # without a usable CUDA device, "all" does not offer the kernels
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "kernels" not in variants("all")
    assert {"eager-fp32", "eager-fp16"} <= set(variants("all"))
    # torch.compile on CUDA needs Triton: "all" drops compile-fp16 without it (and says so)
    import importlib.util
    assert ("compile-fp16" in variants("all")) == (importlib.util.find_spec("triton")
                                                    is not None)


@pytest.mark.slow
def test_real_torch_compile_matches_eager_on_cpu(tiles):
    """Inductor on the CPU (a C++ build: tens of seconds on a loaded machine)."""
    model = _float_model(widths=(4, 8))
    eager = get_backend("torch", model).run(tiles)
    be = get_backend("torch", model, compile="default")
    np.testing.assert_allclose(be.run(tiles), eager, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(be.run_prepared(be.prepare(tiles)).numpy(), eager,
                               rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("compile_mode", [None, "max-autotune"])
@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_cuda_prepared_path(tiles, compile_mode, dtype):
    model = _float_model()
    ref = get_backend("torch", model).run(tiles)
    be = get_backend("torch", model, device="cuda", dtype=dtype, compile=compile_mode)
    x = be.prepare(tiles)
    assert x.is_cuda and x.device == torch.device("cuda", torch.cuda.current_device())
    for _ in range(3):   # the compiled graph (and CUDA graphs) settle over the first calls
        y = be.run_prepared(x)
    be.synchronize()
    assert y.is_cuda
    host = y.float().cpu().numpy()
    tol = 0.05 * np.abs(ref).max() + 1e-2 if dtype == "fp16" else 1e-3
    assert np.abs(host - ref).max() < tol
    np.testing.assert_allclose(be.run(tiles), host, rtol=0, atol=tol)
    be.close()
