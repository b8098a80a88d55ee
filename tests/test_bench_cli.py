"""``tinyicenet bench``: targets end to end (cpu here), imports, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyicenet.bench.harness import BenchConfig
from tinyicenet.bench.modelled import modelled_result
from tinyicenet.bench.schema import load_results, write_results
from tinyicenet.bench.targets import TargetOptions, run_target
from tinyicenet.bench.targets.common import make_tiles
from tinyicenet.bench.units import ew_scene
from tinyicenet.errors import ConfigError

TINY = BenchConfig(window_s=0.3, repetitions=2, warmup_s=0.0, warmup_calls=1, idle_s=0.1)


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tinyicenet", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


@pytest.fixture
def cli_here(capsys):
    """``tinyicenet ARGS`` in this process (test_cpu_target_end_to_end_through_the_cli runs the
    real ``python -m tinyicenet`` entry point)."""
    from helpers import run_main

    return lambda *args: run_main(capsys, *args)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_cpu_target_end_to_end_through_the_cli(tmp_path):
    out = tmp_path / "cpu.json"
    proc = cli("bench", "--target", "cpu", "--window", "0.3", "-r", "2", "--warmup", "0",
               "--idle", "0.1", "--tile", "64", "64", "--scene-pixels", "128", "128",
               "--batch", "2", "--note", "test run", "--quiet", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    [r] = load_results(out)
    assert (r["target"], r["backend"], r["model"], r["precision"]) == (
        "cpu", "torch", "tinyicenet_float", "fp32")
    assert r["tile"] == [64, 64] and r["batch"] == 2
    assert r["scene"] == {"pixels": [128, 128], "pixel_spacing_m": None, "tiles": 16,
                          "halo": 16, "name": "scene of 128 x 128 px"}
    assert r["tiles_per_s"] > 0 and r["repetitions"] == 2
    assert r["scenes_per_s"] == pytest.approx(r["tiles_per_s"] / 16)
    assert "test run" in r["method"]["notes"]
    assert any("untrained weights" in n for n in r["method"]["notes"])
    if r["provenance"]["energy"] == "unavailable":   # this machine and CI: no powercap
        assert "rapl" in r["provenance"]["energy_reason"]
        assert r["energy_mj"]["per_tile_gross"] is None
    else:
        assert r["method"]["meter"] == "rapl" and r["energy_mj"]["per_tile_gross"] > 0


def test_cpu_target_on_tiles_of_a_real_scene_with_a_csv_meter(sample_scene_files, tmp_path):
    options = TargetOptions(batch=3, tile=(64, 64), scene_pixels=(128, 128),
                            scene_path=str(sample_scene_files[0]), config=TINY,
                            meter=f"csv:{tmp_path / 'absent.csv'}")
    tiles = make_tiles(options)
    assert tiles.shape == (3, 2, 64, 64) and tiles.dtype == np.float32
    assert np.abs(tiles).sum() > 0 and not np.allclose(tiles[0], tiles[1])
    [r] = run_target("cpu", options)
    assert r["provenance"]["energy"] == "unavailable"
    assert "absent.csv" in r["provenance"]["energy_reason"]


def test_unknown_target_and_bad_options_are_one_line_errors(tmp_path, cli_here):
    proc = cli_here("bench", "--target", "tpu")
    assert proc.returncode == 2
    assert "unknown bench target 'tpu'" in one_error_line(proc)
    proc = cli_here("bench", "--target", "cpu", "--backend", "tensorflow")
    assert proc.returncode == 2 and "backend 'tensorflow' unknown" in one_error_line(proc)
    proc = cli_here("bench", "--target", "cpu", "--window", "0", "--tile", "64", "64",
               "--scene-pixels", "64", "64", "--out", str(tmp_path / "x.json"))
    assert proc.returncode == 2 and "window" in one_error_line(proc)
    assert not (tmp_path / "x.json").exists()
    proc = cli_here("bench", "--target", "cpu", "--scene-pixels", "0", "0")
    assert proc.returncode == 2 and "each side must be >= 1 pixel" in one_error_line(proc)
    proc = cli_here("bench", "--target", "cpu", "--halo", "-3", "--out", str(tmp_path / "x.json"))
    assert proc.returncode == 2 and "halo -3: must be >= 0" in one_error_line(proc)
    assert not (tmp_path / "x.json").exists()
    proc = cli_here("bench", "--target", "cpu", "--no-idle", "--idle", "2")
    assert proc.returncode == 2 and "--idle has no effect with --no-idle" in one_error_line(proc)
    proc = cli_here("bench", "--target", "cpu", "--meter", "watts")
    assert proc.returncode == 2 and "unknown meter 'watts'" in one_error_line(proc)
    with pytest.raises(ConfigError, match="square"):
        run_target("cpu", TargetOptions(tile=(64, 32)))


def _has_cuda() -> bool:
    import torch
    return torch.cuda.is_available()


@pytest.mark.parametrize("target, present, message", [
    ("cuda", _has_cuda, "no CUDA device"),
    ("jetson", lambda: Path("/etc/nv_tegra_release").exists(), "not a Jetson"),
])
def test_targets_without_their_hardware_say_so(cli_here, target, present, message):
    if present():
        pytest.skip(f"this machine has the {target} target's hardware")
    proc = cli_here("bench", "--target", target)
    assert proc.returncode == 4 and message in one_error_line(proc)


def test_fpga_imports_board_and_modelled_results(tmp_path, cli_here):
    modelled = modelled_result(target="fpga", backend="hls-model", device="ZCU102 (modelled)",
                               model="tinyicenet_w4a4", precision="w4a4", scene=ew_scene(),
                               tiles_per_s=20.0, power_w=1.5, assumptions=["200 MHz"],
                               method="hls schedule")
    src = write_results(tmp_path / "modelled.json", modelled)
    out = tmp_path / "kept.json"
    proc = cli_here("bench", "--target", "fpga", "--import", str(src), "--out", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    [kept] = load_results(out)
    assert kept["provenance"]["throughput"] == "modelled" and kept["tiles_per_s"] == 20.0
    wrong = dict(modelled, target="cpu")
    write_results(tmp_path / "wrong.json", wrong)
    proc = cli_here("bench", "--target", "fpga", "--import", str(tmp_path / "wrong.json"))
    assert proc.returncode == 2 and "not fpga" in one_error_line(proc)
    (tmp_path / "v9.json").write_text(json.dumps(dict(modelled, schema_version=9)))
    proc = cli_here("bench", "--target", "fpga", "--import", str(tmp_path / "v9.json"))
    assert proc.returncode == 2 and "schema_version 9" in one_error_line(proc)


def test_fpga_off_board_is_modelled_and_says_so(tmp_path, cli_here):
    out = tmp_path / "fpga.json"
    proc = cli_here("bench", "--target", "fpga", "--model", "tinyicenet_w4a4", "--quiet",
               "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    (r,) = data if isinstance(data, list) else [data]
    assert r["target"] == "fpga" and r["precision"] == "w4a4"
    assert r["provenance"]["throughput"] == "modelled" and r["provenance"]["assumptions"]
    assert r["tiles_per_s"] > 0 and r["scene"]["tiles"] == 25
    assert any("C simulation not run" in n for n in r["method"]["notes"])


def test_fpga_refuses_a_float_model(cli_here):
    proc = cli_here("bench", "--target", "fpga", "--model", "tinyicenet_float")
    assert proc.returncode != 0 and "quantized" in one_error_line(proc)


def test_cuda_variants_parse():
    from tinyicenet.bench.targets.cuda import VARIANTS, variants
    assert variants(None) == ["eager-fp32"]
    assert variants("eager-fp16,compile-fp16") == ["eager-fp16", "compile-fp16"]
    import importlib.util
    assert set(variants("all")) >= {"eager-fp32", "eager-fp16"}
    assert set(variants("all")) <= set(VARIANTS)
    # torch.compile on CUDA needs Triton: without it the variant is dropped (and says why)
    assert ("compile-fp16" in variants("all")) == (importlib.util.find_spec("triton")
                                                    is not None)
    with pytest.raises(ConfigError, match="unknown variant"):
        variants("eager-int3")


@pytest.mark.gpu
def test_cuda_target_on_a_gpu():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    cfg = BenchConfig(window_s=1.5, repetitions=2, warmup_s=0.5, idle_s=1.5)
    results = run_target("cuda", TargetOptions(variant="eager-fp32,eager-fp16", batch=4,
                                               config=cfg))
    assert [r["variant"] for r in results] == ["eager-fp32", "eager-fp16"]
    for r in results:
        assert r["tiles_per_s"] > 0 and r["precision"] in ("fp32", "fp16")
        assert any("resident on the" in n for n in r["method"]["notes"])
        if r["provenance"]["energy"] == "measured":
            assert r["method"]["meter"] == "nvml" and r["power_w"]["idle"] > 0


def _fpga_plan(energy: dict) -> dict:
    """A modelled hls4ml plan of 100 tiles/s at 128 x 128 with the given energy block."""
    return {"provenance": "modelled", "tile": [128, 128], "clock_mhz": 200.0,
            "cycles_per_tile": 2_000_000, "tiles_per_s": 100.0, "latency_ms": 10.0,
            "fits": True, "assumptions": ["II per the HLS schedule"], "energy": energy}


def test_fpga_import_converts_the_hls_planner_design(tmp_path):
    """The plan's modelled power (nominal, range, idle) becomes energy per tile and scene."""
    plan = _fpga_plan({"power_w": 4.0, "power_w_range": {"low": 2.0, "high": 9.0},
                       "idle_power_w": 3.0, "energy_model": "test-model v1",
                       "assumption": "P from a test power model"})
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    out = tmp_path / "fpga.json"
    proc = cli("bench", "--target", "fpga", "--import", str(tmp_path / "plan.json"),
               "--model", "tinyicenet_w4a4", "--out", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    [r] = load_results(out)
    assert r["provenance"]["throughput"] == "modelled" == r["provenance"]["energy"]
    assert r["provenance"]["energy_model"] == "test-model v1"
    assert "P from a test power model" in r["provenance"]["assumptions"]
    assert r["tile"] == [128, 128] and r["scene"]["tiles"] == 11 * 11
    assert r["energy_mj"]["per_tile_gross"] == pytest.approx(40.0)       # 4 W / 100 tiles/s
    assert r["energy_mj"]["per_tile_above_idle"] == pytest.approx(10.0)  # (4 - 3) W
    assert r["energy_mj"]["per_scene_gross"] == pytest.approx(40.0 * 121)
    assert r["energy_mj_range"]["per_tile"] == {"low": pytest.approx(20.0),
                                                "high": pytest.approx(90.0)}
    assert r["energy_mj_range"]["per_scene"]["high"] == pytest.approx(90.0 * 121)
    assert r["power_w"] == {"average": 4.0, "idle": 3.0, "low": 2.0, "high": 9.0}
    assert r["scenes_per_s"] == pytest.approx(100.0 / 121)


def test_fpga_import_drops_power_that_no_power_model_produced(tmp_path):
    """A plan from before the power model (borrowed power, no energy_model) gives no energy."""
    plan = _fpga_plan({"power_w": 0.5, "assumption": "P from another design"})
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    out = tmp_path / "fpga.json"
    proc = cli("bench", "--target", "fpga", "--import", str(tmp_path / "plan.json"),
               "--model", "tinyicenet_w4a4", "--out", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    [r] = load_results(out)
    assert r["provenance"]["energy"] == "unavailable"
    assert r["energy_mj"]["per_tile_gross"] is None and "energy_mj_range" not in r


def test_jetson_target_with_a_recorded_tegrastats_stream(tmp_path, monkeypatch):
    """The jetson path end to end off a Jetson: a fake `tegrastats` replays a recorded line."""
    from tinyicenet.bench.targets import jetson
    line = (Path(__file__).parent / "data" / "recorded" / "tegrastats" /
            "orin_nx_jp5.txt").read_text().splitlines()[1]          # VDD_IN 11604 mW
    tool = tmp_path / "bin" / "tegrastats"
    tool.parent.mkdir()
    tool.write_text(f"#!{sys.executable}\nimport time\n"
                    f"while True:\n    print({line!r}, flush=True)\n    time.sleep(0.05)\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}:/usr/bin:/bin")
    monkeypatch.setattr(jetson, "device_name", lambda root="/": "Jetson Orin NX (emulated)")
    options = TargetOptions(backend="torch", batch=1, tile=(64, 64), scene_pixels=(128, 128),
                            config=BenchConfig(window_s=0.5, repetitions=2, warmup_s=0.0,
                                               warmup_calls=1, idle_s=0.5))
    [r] = run_target("jetson", options)
    assert r["target"] == "jetson" and r["device"] == "Jetson Orin NX (emulated)"
    assert r["method"]["meter"] == "tegrastats" and r["method"]["rails"] == ["VDD_IN"]
    assert r["provenance"]["energy"] == "measured"
    assert r["power_w"]["average"] == pytest.approx(11.604, rel=1e-6)
    assert r["power_w"]["idle"] == pytest.approx(11.604, rel=1e-6)
    assert abs(r["energy_mj"]["per_tile_above_idle"]) < 1e-6 * r["energy_mj"]["per_tile_gross"]


def test_cpu_onnxruntime_exports_a_named_model_and_cleans_up(tmp_path, monkeypatch):
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))   # where the export goes
    options = TargetOptions(backend="onnxruntime", tile=(64, 64), scene_pixels=(128, 128),
                            config=TINY)
    [r] = run_target("cpu", options)
    assert (r["backend"], r["precision"], r["model"]) == ("onnxruntime", "fp32",
                                                          "tinyicenet_float")
    assert any("exported to ONNX" in n for n in r["method"]["notes"])
    assert r["tiles_per_s"] > 0
    assert not list(tmp_path.glob("tinyicenet-bench-onnx-*"))   # the export was removed


def test_all_drops_what_cannot_run_and_says_so(monkeypatch, capsys):
    """--backend all on the CPU without onnxruntime: torch runs, onnxruntime is dropped,
    a warning says so and every record lists it."""
    import tinyicenet.backends as backends
    real = backends.backend_availability
    monkeypatch.setattr(backends, "backend_availability", lambda name: (
        (False, "cannot be loaded here (No module named 'onnxruntime')")
        if name == "onnxruntime" else real(name)))
    options = TargetOptions(backend="all", tile=(64, 64), scene_pixels=(128, 128), config=TINY)
    [r] = run_target("cpu", options)
    assert r["backend"] == "torch"
    assert r["dropped"] == [{"variant": "onnxruntime",
                             "reason": "cannot be loaded here (No module named 'onnxruntime')"}]
    assert r["timing"] == {"throughput": "queued", "latency": "synchronised"}
    assert r["baseline"]["variant"] == "torch" and r["baseline"]["tiles_per_s_ratio"] == 1.0
    assert "warning: dropped backend onnxruntime: cannot be loaded" in capsys.readouterr().err


def test_cuda_all_drops_unusable_variants_and_keeps_order():
    from tinyicenet.bench.targets.cuda import plan
    names, dropped = plan("all", probe=lambda v: (v != "compile-fp16" and v != "kernels",
                                                  f"no {v} here"))
    assert names == ["eager-fp32", "eager-fp16"]
    assert dropped == [{"variant": "compile-fp16", "reason": "no compile-fp16 here"},
                       {"variant": "kernels", "reason": "no kernels here"}]
    assert plan("eager-fp16", probe=lambda v: (False, "unused")) == (["eager-fp16"], None)


def test_a_variant_failing_under_all_is_dropped_not_fatal(capsys):
    from tinyicenet.bench.targets.common import run_all

    def measure(name):
        if name == "b":
            raise RuntimeError("CUDA error: out of memory\nmore text")
        return {"name": name}

    dropped = []
    assert run_all(["a", "b"], measure, dropped, keep_going=True) == [{"name": "a"}]
    assert dropped == [{"variant": "b",
                        "reason": "failed here: RuntimeError: CUDA error: out of memory"}]
    assert "warning: dropped variant b" in capsys.readouterr().err
    with pytest.raises(RuntimeError):
        run_all(["b"], measure, [], keep_going=False)
    with pytest.raises(ConfigError, match="no variant could run here"):
        run_all(["b"], measure, [], keep_going=True)


def test_baseline_is_the_fastest_pytorch_variant_of_the_run():
    from tinyicenet.bench.targets.common import annotate_run

    def rec(backend, variant, tps, mj):
        return {"backend": backend, "variant": variant, "tiles_per_s": tps,
                "energy_mj": {"per_tile_gross": mj}}
    results = [rec("torch", "eager-fp32", 100.0, 9.0), rec("torch", "eager-fp16", 300.0, 4.0),
               rec("torch", "compile-fp16", 250.0, 3.0), rec("cuda-kernels", "kernels", 900.0, 1.0)]
    annotate_run(results, [])
    for r in results:
        assert r["baseline"]["variant"] == "eager-fp16"      # fastest, not torch.compile
        assert r["dropped"] == []
    assert results[3]["baseline"]["tiles_per_s_ratio"] == pytest.approx(3.0)
    assert results[3]["baseline"]["energy_ratio"] == pytest.approx(0.25)
    alone = annotate_run([rec("cuda-kernels", "kernels", 900.0, None)], None)
    assert "baseline" not in alone[0] and "dropped" not in alone[0]
