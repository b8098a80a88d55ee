"""bench/bench_gpu_kernels.py measures through the harness, names its baseline, says what it
dropped. CPU smoke mode here (the GPU run itself is recorded on the H200, not tested)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tinyicenet.bench.schema import load_results, validate_result

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "bench_gpu_kernels.py"


@pytest.fixture(scope="module")
def gk():
    spec = importlib.util.spec_from_file_location("bench_gpu_kernels", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_smoke_run_goes_through_the_harness_and_records_dropped(gk, tmp_path, capsys):
    out = tmp_path / "gk.json"
    rc = gk.main(["--device", "cpu", "--configs", "16x1", "--variants",
                  "eager-fp32,compile-fp16,kernels", "--window", "0.1", "--repetitions", "2",
                  "--latency", "0", "--warmup", "0", "--idle", "0.05", "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "warning: dropped variant kernels: needs CUDA" in printed
    assert "warning: dropped variant compile-fp16: needs CUDA" in printed
    record = json.loads(out.read_text())
    assert [d["variant"] for d in record["dropped"]] == ["compile-fp16", "kernels"]
    assert record["timing"]["throughput"] == "queued"
    assert record["timing"]["latency"] == "synchronised"
    [entry] = record["results"]
    assert entry["variant"] == "eager-fp32" and entry["windows"] == 2 and entry["fps"] > 0
    [bench] = load_results(tmp_path / "gk_bench.json")
    validate_result(bench, new=True)
    assert bench["timing"] == {"throughput": "queued", "latency": "synchronised"}
    assert bench["tiles_per_s"] == entry["fps"] and len(bench["windows"]) == 2
    assert bench["latency_ms"]["calls"] >= 2 * 20           # synchronised calls, per window
    assert bench["baseline"]["variant"] == "eager-fp32"
    assert [d["variant"] for d in bench["dropped"]] == ["compile-fp16", "kernels"]
    assert "bench/bench_gpu_kernels.py" in bench["method"]["notes"]


def test_ratios_use_the_fastest_pytorch_variant_not_always_compile(gk):
    def entry(variant, fps, mj):
        return {"variant": variant, "h": 1024, "w": 1024, "batch": 16, "fps": fps,
                "mj_per_image": mj}
    results = [entry("eager-fp32", 596.0, 950.0), entry("eager-fp16", 915.0, 590.0),
               entry("compile-fp16", 869.0, 554.0), entry("kernels", 5536.0, 108.0),
               {"variant": "eager-fp16", "h": 256, "w": 256, "batch": 1, "error": "x"}]
    ratios = gk.ratios_against_fastest_pytorch(results)
    assert list(ratios) == ["1024x1024x16"]              # no kernels at 256: no ratio
    r = ratios["1024x1024x16"]
    assert r["baseline"]["variant"] == "eager-fp16"
    assert r["fps_ratio"] == pytest.approx(5536 / 915)
    assert r["energy_ratio"] == pytest.approx(108 / 590)
    assert r["lowest_energy_pytorch"]["variant"] == "compile-fp16"
    assert r["energy_ratio_vs_lowest_energy_pytorch"] == pytest.approx(108 / 554)


def test_without_triton_kernels_and_compile_are_dropped(gk, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "triton" else real(name, *a))
    run, dropped = gk.usable_variants(list(gk.VARIANTS), "cuda")
    assert run == ["eager-fp32", "eager-fp16"]
    assert {d["variant"]: d["reason"] for d in dropped} == {
        "compile-fp16": "torch.compile on CUDA needs Triton, which is not installed",
        "kernels-gen1": "the custom kernels need Triton, which is not installed",
        "kernels": "the custom kernels need Triton, which is not installed"}
