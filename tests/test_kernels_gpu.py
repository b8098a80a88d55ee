"""The custom kernels (Triton, and the CUDA C++ kernels of gen6 / gen7 / gen8) on a CUDA GPU
equal the integer reference value for value.

Skipped cleanly without CUDA or Triton (CI); gen6 / gen7 / gen8 cases without CuPy. Fresh random
inputs every run, several shapes (tile multiples and not), gen7 fused and per stage, gen8 on
several program tiles, graphs on and off, a poisoned output buffer, batch splitting, and
w8a8 / w4a4 models with and without skips, for every kernel design (plan.DESIGNS), with
programmatic dependent launches, and the halo convs with 2- and 4-byte output stores.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)
pytest.importorskip("triton")

from tinyicenet.kernels import runner as R  # noqa: E402
from tinyicenet.kernels.plan import DESIGNS, HALO_DESIGNS  # noqa: E402
from tinyicenet.kernels.runner import IntTinyIceNetGPU  # noqa: E402
from tinyicenet.kernels.synthetic import random_intmodel  # noqa: E402
from helpers import fresh_rng  # noqa: E402

pytestmark = pytest.mark.gpu
MODELS = [(8, 8, True), (4, 4, True), (8, 8, False), (4, 4, False), (2, 5, True)]


def reference(model, x: np.ndarray) -> np.ndarray:
    return np.concatenate([model.run_int(model.quantize_input(x[i:i + 4]))
                           for i in range(0, len(x), 4)])


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("wb,ab,skips", MODELS)
def test_kernels_equal_intref_on_fresh_random_inputs(wb, ab, skips, design):
    if design in HALO_DESIGNS:
        pytest.importorskip("cupy")
    rng = fresh_rng("kernels vs intref")  # fresh every run, seed printed
    model = random_intmodel(weight_bits=wb, act_bits=ab, skips=skips,
                            seed=int(rng.integers(1 << 30)))
    gpu = IntTinyIceNetGPU(model, design=design)
    for shape in [(2, 2, 256, 256), (3, 2, 40, 72), (1, 2, 4, 4)]:
        x = (rng.standard_normal(shape) * rng.uniform(0.5, 4)).astype(np.float32)
        x[0, :, : shape[2] // 4] *= 30  # saturate part of the input
        ref = reference(model, x)
        state = gpu.state(*shape[:1], *shape[2:])
        state.out.fill_(127)  # poison: unwritten outputs would show
        got = gpu.forward_int(torch.from_numpy(x).cuda()).cpu().numpy()
        assert got.shape == ref.shape
        assert int((got.astype(np.int64) != ref).sum()) == 0, shape
        assert len(np.unique(ref)) >= 4
        floats = gpu(torch.from_numpy(x).cuda()).cpu().numpy()
        np.testing.assert_array_equal(floats, model.dequantize_output(ref))


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("graphs", [True, False])
def test_programmatic_dependent_launches_and_the_repeat_fast_path(design, graphs):
    if design in HALO_DESIGNS:
        pytest.importorskip("cupy")
    rng = fresh_rng(f"pdl {design} {graphs}")
    model = random_intmodel(weight_bits=8, act_bits=8, seed=int(rng.integers(1 << 30)))
    x = torch.from_numpy((rng.standard_normal((2, 2, 64, 80)) * 3).astype(np.float32)).cuda()
    ref = reference(model, x.cpu().numpy())
    gpu = IntTinyIceNetGPU(model, design=design, pdl=True, graphs=graphs)
    for _ in range(3):   # the second and third calls take the fast path (same tensor)
        assert int((gpu.forward_int(x).cpu().numpy().astype(np.int64) != ref).sum()) == 0
    x.mul_(-1)           # in place: the graph reads the new values
    ref = reference(model, x.cpu().numpy())
    assert int((gpu.forward_int(x).cpu().numpy().astype(np.int64) != ref).sum()) == 0
    # passes on other inputs queued back to back, each first conv right after the previous
    # pass's last: a launch that starts early must still wait for its predecessor's data.
    # (The last pass is checked; an earlier pass's output is overwritten by the next one, so
    # a write before the wait would show only through the last pass's own stages.)
    xs = [torch.from_numpy((rng.standard_normal((1, 2, 256, 256)) * 2).astype(np.float32))
          .cuda() for _ in range(4)]
    state = gpu.state(1, 256, 256)
    for v in xs:
        for _, launch in gpu.launches(state, v):
            launch()
    ref = reference(model, xs[-1].cpu().numpy())
    assert int((state.out.cpu().numpy().astype(np.int64) != ref).sum()) == 0


def test_graph_and_plain_launches_agree_and_batches_split(monkeypatch):
    model = random_intmodel(seed=9)
    x = torch.randn(5, 2, 64, 96, generator=torch.Generator().manual_seed(53)).cuda() * 2
    ref = reference(model, x.cpu().numpy())
    plain = IntTinyIceNetGPU(model, graphs=False).forward_int(x).cpu().numpy()
    assert int((plain.astype(np.int64) != ref).sum()) == 0
    monkeypatch.setattr(R, "INDEX_LIMIT", 2 * (66 * 98 * 16) + 100)  # two images per launch
    split = IntTinyIceNetGPU(model).forward_int(x).cpu().numpy()
    assert int((split.astype(np.int64) != ref).sum()) == 0


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("tiles", [None, {"*": (16, 16, 8, 2)}, {"*": (8, 16, 4, 3, 8)},
                                   {"decoder0": (4, 16, 4, 4), "encoder0": (8, 32, 4, 3, 8)}])
def test_launch_shapes_do_not_change_results(monkeypatch, tiles, design):
    if design in HALO_DESIGNS:
        pytest.importorskip("cupy")
    monkeypatch.setattr(IntTinyIceNetGPU, "LARGE_PIXELS", 0)  # tiles=None: the large shapes
    if design in HALO_DESIGNS and tiles and "decoder0" in tiles:
        # (4, 16) does not suit a halo conv (tests/test_kernels_halo.py): its own shapes
        tiles = {"decoder0": (16, 32, 4), "encoder1": (8, 16, 2), "encoder0": tiles["encoder0"]}
    model = random_intmodel(seed=17)
    x = np.random.default_rng(67).standard_normal((2, 2, 96, 160)).astype(np.float32) * 3
    got = IntTinyIceNetGPU(model, tiles=tiles, design=design).forward_int(
        torch.from_numpy(x).cuda())
    assert int((got.cpu().numpy().astype(np.int64) != reference(model, x)).sum()) == 0


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("design,fused", [("gen7", True), ("gen7", False), ("gen6", False)])
@pytest.mark.parametrize("wb,ab,skips", MODELS[:4])
def test_halo_convs_fused_and_per_stage_in_both_store_layouts(wb, ab, skips, design, fused,
                                                              wide):
    pytest.importorskip("cupy")
    rng = fresh_rng(f"halo {design} fused={fused} wide={wide}")
    model = random_intmodel(weight_bits=wb, act_bits=ab, skips=skips,
                            seed=int(rng.integers(1 << 30)))
    gpu = IntTinyIceNetGPU(model, design=design, fused=fused, wide=wide)
    for shape in [(4, 2, 256, 256), (3, 2, 40, 72), (1, 2, 4, 4)]:
        x = (rng.standard_normal(shape) * rng.uniform(0.5, 4)).astype(np.float32)
        x[0, :, : shape[2] // 4] *= 30
        x[-1, 1, -1, :2] = [3e38, -3e38]   # x * scale overflows fp32: clamped all the same
        state = gpu.state(*shape[:1], *shape[2:])
        assert (state.sync is not None) == fused
        state.out.fill_(127)
        for sign in (1, -1):   # the fused kernel's counters are left ready for the next launch
            got = gpu.forward_int(torch.from_numpy(sign * x).cuda()).cpu().numpy()
            ref = reference(model, sign * x)
            assert int((got.astype(np.int64) != ref).sum()) == 0, shape
            if fused:
                assert not state.sync.any()


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("tile", [None, (8, 16, 4), (16, 16, 8), (32, 16, 8)])
@pytest.mark.parametrize("wb,ab,skips,widths,classes", [
    *((*m, (16, 32, 64), 6) for m in MODELS[:4]),
    (8, 8, True, (16, 16, 16), 17),    # 16-channel upsampled sources, three class tiles
    (4, 4, True, (16, 16, 128), 11)])  # a 128-channel bottleneck (16 n-tiles)
def test_whole_network_tiles_in_both_store_layouts(wb, ab, skips, widths, classes, tile, wide):
    pytest.importorskip("cupy")
    rng = fresh_rng(f"gen8 {tile} wide={wide}")
    model = random_intmodel(weight_bits=wb, act_bits=ab, skips=skips, widths=widths,
                            classes=classes, seed=int(rng.integers(1 << 30)))
    gpu = IntTinyIceNetGPU(model, design="gen8", wide=wide,
                           tiles=None if tile is None else {"network": tile})
    for shape in [(2, 2, 256, 256), (3, 2, 40, 72), (1, 2, 4, 4), (1, 2, 36, 44)]:
        x = (rng.standard_normal(shape) * rng.uniform(0.5, 4)).astype(np.float32)
        x[0, :, : shape[2] // 4] *= 30
        x[-1, 1, -1, :2] = [3e38, -3e38]
        state = gpu.state(*shape[:1], *shape[2:])
        assert not state.buffers   # every activation stays on chip
        state.out.fill_(127)
        got = gpu.forward_int(torch.from_numpy(x).cuda()).cpu().numpy()
        assert int((got.astype(np.int64) != reference(model, x)).sum()) == 0, shape


def test_brevitas_model_if_available():
    pytest.importorskip("brevitas")
    from tinyicenet.export.intref import from_brevitas
    from tinyicenet.models import calibrate, create_model
    torch.manual_seed(1)
    model = create_model("tinyicenet_w8a8")
    calibrate(model, [torch.randn(2, 2, 32, 32)])
    im = from_brevitas(model.eval())
    x = np.random.default_rng(80).standard_normal((2, 2, 128, 128)).astype(np.float32)
    got = IntTinyIceNetGPU(im).forward_int(torch.from_numpy(x).cuda()).cpu().numpy()
    assert int((got.astype(np.int64) != reference(im, x)).sum()) == 0


def test_generated_scene_tiles(request):
    pytest.importorskip("netCDF4")  # the scene generator writes NetCDF (not on every GPU box)
    sample_scene_files = request.getfixturevalue("sample_scene_files")
    from tinyicenet.data import extract_tiles, load_scene, plan_tiles
    model = random_intmodel(weight_bits=4, act_bits=4, seed=12)
    image = load_scene(sample_scene_files[1], downsample=1)["image"]
    tiles = extract_tiles(image, plan_tiles(image.shape[1:], tile=256, halo=16))
    got = IntTinyIceNetGPU(model).forward_int(torch.from_numpy(tiles).cuda()).cpu().numpy()
    assert int((got.astype(np.int64) != reference(model, tiles)).sum()) == 0


def test_backend_through_the_registry(tmp_path):
    from tinyicenet.backends import get_backend
    from tinyicenet.export.intref import save_intref
    model = random_intmodel(weight_bits=4, act_bits=4, seed=21)
    path = save_intref(model, tmp_path / "m.npz", sidecar=False)
    tiles = np.random.default_rng(101).standard_normal((3, 2, 64, 64)).astype(np.float32)
    with get_backend("cuda-kernels", path) as backend:
        assert backend.precision == "w4a4-int"
        np.testing.assert_array_equal(backend.run(tiles), model(tiles))
        handle = backend.prepare(tiles)
        codes = backend.run_prepared(handle)
        backend.synchronize()
        np.testing.assert_array_equal(codes.cpu().numpy(), reference(model, tiles))
