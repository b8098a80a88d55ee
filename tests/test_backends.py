"""Backend registry, torch and integer backends."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tinyicenet import backends
from tinyicenet.backends import Backend, available_backends, get_backend
from tinyicenet.errors import CheckpointError, ConfigError, DataError
from tinyicenet.export.intref import save_intref
from tinyicenet.models import calibrate, create_model, save_checkpoint


@pytest.fixture(scope="module")
def qckpt(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("tinyicenet_w4a4", widths=(8, 16, 32))
    calibrate(model, [torch.randn(2, 2, 32, 32) * 2 for _ in range(2)])
    path = tmp_path_factory.mktemp("ckpt") / "q.pt"
    save_checkpoint(path, model)
    return path


@pytest.fixture()
def tiles():
    return np.random.default_rng(7).standard_normal((3, 2, 32, 32)).astype(np.float32) * 2


def test_registry_names_and_errors(qckpt):
    assert {"torch", "integer"} <= set(available_backends())
    assert "torch" in available_backends(check=True)
    with pytest.raises(ConfigError, match="unknown backend 'tpu'.*torch.*integer"):
        get_backend("tpu", qckpt)
    with pytest.raises(ConfigError, match="unknown option.*speed.*valid: device, dtype"):
        get_backend("torch", qckpt, speed=3)
    with pytest.raises(ConfigError, match="dtype"):
        get_backend("torch", qckpt, dtype="int8")
    with pytest.raises(CheckpointError, match="not found"):
        get_backend("torch", qckpt.parent / "missing.pt")


class EchoBackend(Backend):
    """A backend defined outside the package: returns the first input channel as one class."""

    name = "echo"

    def __init__(self, artefact, *, gain: float = 1.0) -> None:
        self.gain = gain
        self.precision = "fp32"

    def _run(self, tiles):
        return tiles[:, :1] * self.gain


def test_adding_a_backend_is_one_registry_line(monkeypatch, tiles):
    monkeypatch.setitem(backends._REGISTRY, "echo", f"{__name__}:EchoBackend")
    assert "echo" in available_backends()
    with get_backend("echo", None, gain=2.0) as be:
        np.testing.assert_array_equal(be.run(tiles), tiles[:, :1] * 2)
    with pytest.raises(ConfigError, match="valid: gain"):
        get_backend("echo", None, device="cuda")


def test_integer_backend_equals_torch_backend_exactly(qckpt, tiles, tmp_path):
    with get_backend("torch", qckpt) as tb:
        ref = tb.run(tiles)
        assert tb.precision == "w4a4" and tb.device == "cpu"
    ib = get_backend("integer", qckpt)
    out = ib.run(tiles)
    assert out.dtype == np.float32 and out.shape == (3, 6, 32, 32)
    assert int((out != ref).sum()) == 0
    assert ib.precision == "w4a4-int"
    codes = ib.run_codes(tiles)
    np.testing.assert_array_equal(codes * 2.0 ** ib.intmodel.output_exp, ref)
    # from the saved integer model file, with the pure-integer convolution and batch 1
    npz = save_intref(ib.intmodel, tmp_path / "m.npz")
    ib2 = get_backend("integer", npz, batch_size=1, conv_impl="int64")
    np.testing.assert_array_equal(ib2.run(tiles), out)


def test_torch_backend_float_fp16_and_module(tiles):
    torch.manual_seed(0)
    model = create_model("tinyicenet_float", widths=(8, 16, 32), charts=("SOD", "SIC"))
    fp32 = get_backend("torch", model).run(tiles)
    with torch.no_grad():
        np.testing.assert_allclose(fp32, model(torch.from_numpy(tiles)).numpy(), rtol=1e-6)
    half = get_backend("torch", model, dtype="fp16")
    assert half.precision == "fp16"
    out16 = half.run(tiles)
    assert out16.dtype == np.float32 and out16.shape == (3, 17, 32, 32)
    assert np.abs(out16 - fp32).max() < 0.05 * np.abs(fp32).max() + 1e-2


def test_quantized_model_refuses_fp16(qckpt):
    with pytest.raises(ConfigError, match="fp32 only"):
        get_backend("torch", qckpt, dtype="fp16")


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the message without CUDA")
def test_cuda_without_gpu_is_a_clear_error(qckpt):
    with pytest.raises(ConfigError, match="no CUDA device"):
        get_backend("torch", qckpt, device="cuda")


@pytest.mark.parametrize("name", ["torch", "integer"])
def test_bad_tiles(qckpt, name):
    be = get_backend(name, qckpt)
    with pytest.raises(DataError, match="float32"):
        be.run(np.zeros((1, 2, 32, 32), np.float64))
    with pytest.raises(DataError, match="3 channels"):
        be.run(np.zeros((1, 3, 32, 32), np.float32))
    with pytest.raises(DataError, match="stride 4"):
        be.run(np.zeros((1, 2, 30, 32), np.float32))


def test_integer_backend_refuses_float_model():
    from tinyicenet.errors import ExportError
    with pytest.raises(ExportError, match="float model"):
        get_backend("integer", create_model("tinyicenet_float"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(qckpt, tiles):
    cpu = get_backend("torch", qckpt).run(tiles)
    gpu = get_backend("torch", qckpt, device="cuda").run(tiles)
    # the fixed-point simulation may differ by a rounding step where cuDNN sums differently
    assert (gpu != cpu).mean() < 0.01
    torch.manual_seed(0)
    model = create_model("tinyicenet_float", widths=(8, 16, 32))
    a = get_backend("torch", model).run(tiles)
    b = get_backend("torch", model, device="cuda", dtype="fp16").run(tiles)
    assert np.abs(a - b).max() < 0.05 * np.abs(a).max() + 1e-2


def test_check_lists_only_backends_usable_here(monkeypatch):
    # no CUDA (really, or simulated on a GPU machine): the custom kernels are not offered
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    usable = available_backends(check=True)
    assert "cuda-kernels" not in usable and {"torch", "integer"} <= set(usable)
    assert "cuda-kernels" in available_backends()   # still registered
    ok, reason = backends.backend_availability("cuda-kernels")
    assert not ok and "CUDA" in reason


class UnavailableBackend(EchoBackend):
    name = "nowhere"

    @classmethod
    def availability(cls):
        return False, "needs the nowhere accelerator"


def test_check_drops_unloadable_and_unavailable_backends(monkeypatch):
    monkeypatch.setitem(backends._REGISTRY, "nowhere", f"{__name__}:UnavailableBackend")
    monkeypatch.setitem(backends._REGISTRY, "broken", "tinyicenet_no_such_module:Backend")
    monkeypatch.setitem(backends._REGISTRY, "echo", f"{__name__}:EchoBackend")
    usable = available_backends(check=True)
    assert "echo" in usable and "nowhere" not in usable and "broken" not in usable
    assert backends.backend_availability("nowhere") == (False, "needs the nowhere accelerator")
    ok, reason = backends.backend_availability("broken")
    assert not ok and "tinyicenet_no_such_module" in reason
    with pytest.raises(ConfigError, match="unknown backend"):
        backends.backend_availability("tpu")
