"""Two estimators, one chip: FINN+'s estimates beside tinyicenet's hls4ml model, XCZU9EG, 200 MHz.

For one tile (default 256 x 256) and a sweep of target frame rates, runs ``tinyicenet board
finn``'s flow once (verified against the integer reference, see ``verification``) with FINN's
folding and estimate reports at each target, and the project's hls4ml planner
(:func:`tinyicenet.hls.plan_project`, the fastest design that fits) for the same tile. Both are
*modelled* (analytical estimates, no synthesis). Per convolution the record puts FINN's MVAU next
to hls4ml's conv (matched by order), FINN folded for the hls4ml design's overlapped rate, and
where cycles or LUT differ by more than 25 % it says which assumption differs.

Run (needs the FINN+ environment: ``tinyicenet board finn --setup``)::

    python bench/bench_fpga_estimators.py --checkpoint runs/demo/last.pt

Writes ``bench/results/fpga_estimators.json`` (machine, date, commit, checkpoint).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DISAGREE = 0.25
FPS = (30.0, 100.0, 250.0, 500.0, 1000.0)


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def finn_point(report: Path, fps_target: float, folding: dict | None) -> dict:
    """One FINN design point from its report folder."""
    perf = _load(report / "estimate_network_performance.json")
    res = _load(report / "estimate_layer_resources.json")
    cycles = _load(report / "estimate_layer_cycles.json")
    total = res.get("total", {})
    layers = {name: {"cycles": int(cycles.get(name, 0)),
                     **{k: float(v) for k, v in res.get(name, {}).items()
                        if k in ("LUT", "BRAM_18K", "URAM", "DSP")},
                     **((folding or {}).get("nodes", {}).get(name, {}))}
              for name in cycles}
    return {"target_fps": fps_target,
            "estimated_fps": float(perf["estimated_throughput_fps"]),
            "max_cycles": int(perf["max_cycles"]),
            "bottleneck": perf.get("max_cycles_node_name"),
            "critical_path_cycles": int(perf.get("critical_path_cycles", 0)),
            "LUT": float(total.get("LUT", 0)), "BRAM_18K": float(total.get("BRAM_18K", 0)),
            "URAM": float(total.get("URAM", 0)), "DSP": float(total.get("DSP", 0)),
            "layers": layers}


def hls_point(model, tile: int) -> dict:
    """The hls4ml planner's design for ``tile`` (fastest that fits the utilisation limits)."""
    from tinyicenet.hls import load_board, load_settings, plan_project

    plan, _ = plan_project(model, load_board("zcu102"), load_settings(), tile=tile)
    d = plan.to_dict()
    res = d["resources"]
    convs = [{"onnx_name": c["onnx_name"], "hls_name": c["hls_name"], "role": c["role"],
              "reuse_factor": c["reuse_factor"], "multipliers": c["multipliers"],
              "n_in": c["n_in"], "n_out": c["n_out"], "cycles": c["cycles"],
              "LUT": res["layers"].get(c["hls_name"], {}).get("lut"),
              "BRAM_18K": 2 * res["layers"].get(c["hls_name"], {}).get("bram36", 0.0),
              "DSP": res["layers"].get(c["hls_name"], {}).get("dsp")} for c in d["layers"]]
    return {"tiles_per_s": d["tiles_per_s"], "cycles_per_tile": d["cycles_per_tile"],
            "throughput_bound_cycles": d["throughput_bound_cycles"], "fits": d["fits"],
            "LUT": res["total"]["lut"], "BRAM_18K": 2 * res["total"]["bram36"],
            "URAM": 0.0, "DSP": res["total"]["dsp"], "FF": res["total"]["ff"],
            "utilisation": res["utilisation"], "convs": convs,
            "assumptions": d["assumptions"]}


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-9)


def compare_layers(finn: dict, hls: dict) -> list[dict]:
    """FINN MVAU i beside hls4ml conv i, with the differing assumption where > 25 % apart."""
    mvaus = [(n, v) for n, v in finn["layers"].items() if n.startswith("MVAU")]
    rows = []
    for (name, f), h in zip(mvaus, hls["convs"], strict=False):
        macs_finn = int(f.get("PE", 1)) * int(f.get("SIMD", 1))
        row = {"conv": h["onnx_name"], "role": h["role"], "finn_node": name,
               "finn_cycles": f["cycles"], "hls_cycles": h["cycles"],
               "finn_LUT": f.get("LUT"), "hls_LUT": h["LUT"],
               "finn_PE": f.get("PE"), "finn_SIMD": f.get("SIMD"),
               "finn_macs_per_cycle": macs_finn, "hls_reuse_factor": h["reuse_factor"],
               "hls_multipliers": h["multipliers"]}
        why = []
        if _rel(f["cycles"], h["cycles"]) > DISAGREE:
            why.append(
                "cycles: FINN's MVAU model is pixels x (MW/SIMD) x (MH/PE) with PE/SIMD chosen "
                f"by SetFolding for its target ({macs_finn} MACs/cycle), hls4ml's is "
                "(ReuseFactor + 4) per output pixel, 2 per padding pixel, with the reuse factor "
                f"chosen under the planner's common budget ({h['multipliers']} multipliers, "
                f"RF {h['reuse_factor']}): different parallelism at this operating point")
        if f.get("LUT") and h["LUT"] and _rel(f["LUT"], h["LUT"]) > DISAGREE:
            lf, lh = f["LUT"] / max(macs_finn, 1), h["LUT"] / max(h["multipliers"], 1)
            why.append(
                f"LUT: FINN ~{lf:.0f} LUT per MAC lane (its MVAU estimate: LUT multipliers, adder "
                "tree, threshold comparators, weights in LUTRAM/BRAM by its rule) vs hls4ml model "
                f"~{lh:.0f} LUT per multiplier (b_w*b_a/2 + b_w + b_a LUT6 per product, one "
                "adder per multiplier, ROM < 64 words in LUTs, 150 LUT control per process)"
                + ("; parallelism also differs" if macs_finn != h["multipliers"] else ""))
        row["cycles_rel_diff"] = round(_rel(f["cycles"], h["cycles"]), 3)
        row["LUT_rel_diff"] = (round(_rel(f["LUT"], h["LUT"]), 3)
                               if f.get("LUT") and h["LUT"] else None)
        row["assumption_differs"] = why
        rows.append(row)
    return rows


def power_of(resources: dict, clock_mhz: float, fps: float,
             ff_per_lut: tuple[float, float, float] | None = None) -> dict:
    """The FPGA power model (``tinyicenet.power``, PL + PS) for one design point, and the
    energy per tile at its estimated rate; the same model prices both estimators' designs."""
    from tinyicenet.power import estimate

    est = estimate(resources, clock_mhz, ff_per_lut=ff_per_lut)
    watts = {"low": est.low, "nominal": est.nominal, "high": est.high}
    return {"model": est.model, "power_w": watts, "pl_only_w": est.pl.to_dict(),
            "energy_mj_per_tile": {k: 1e3 * w / fps for k, w in watts.items()},
            "assumptions": est.assumptions}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True, help="a quantized checkpoint (.pt)")
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--fps", default=",".join(f"{f:g}" for f in FPS),
                    help="comma-separated target tiles/s for FINN's SetFolding")
    ap.add_argument("--weights", default="", help="how the checkpoint was made (recorded)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "fpga_estimators.json")
    args = ap.parse_args(argv)

    from tinyicenet.atomic import write_text
    from tinyicenet.bench.sysinfo import source_state
    from tinyicenet.finn.flow import CLOCK_NS, MVAU_WWIDTH_MAX, PART, build_finn
    from tinyicenet.models.checkpoint import load_quantized_checkpoint

    commit = source_state().to_dict()  # the code that runs, before anything can change the tree
    fps = [float(f) for f in args.fps.split(",") if f.strip()]
    model, _ = load_quantized_checkpoint(Path(args.checkpoint))
    hls = hls_point(model, args.tile)
    # like for like: FINN's fps is clock / slowest layer (layers overlapped); the hls4ml
    # planner's overlapped bound is throughput_bound_cycles, so FINN also folds for that rate
    clock_mhz = 1e3 / CLOCK_NS
    hls["fps_throughput_bound"] = clock_mhz * 1e6 / hls["throughput_bound_cycles"]
    matched = round(hls["fps_throughput_bound"], 1)
    fps = fps + [matched]
    with tempfile.TemporaryDirectory(prefix="bench-finn-") as tmp:
        out = Path(tmp) / "finn"
        verification = build_finn(Path(args.checkpoint), out, tile=args.tile,
                                  target_fps=fps[0], n_random=1, n_scene=1, cppsim=False,
                                  sweep_fps=fps[1:], quiet=True)
        reports = [(fps[0], out / "report", _load(out / "runner.json").get("folding"))]
        for f in fps[1:]:
            rep = out / "sweep" / f"fps_{f:g}" / "report"
            reports.append((f, rep, _load(rep / "tinyicenet_folding.json")))
        finn = [finn_point(rep, f, fold) for f, rep, fold in reports]
    closest = finn[-1]
    # FINN's estimates give no flip-flop count: price FFs at the hls4ml design's own FF/LUT
    # ratio, halved and doubled for the range (a stated assumption, not a FINN figure)
    ratio = hls["FF"] / hls["LUT"]
    keys = ("LUT", "BRAM_18K", "URAM", "DSP")
    for point in finn:
        point["power"] = power_of({k: point[k] for k in keys}, clock_mhz,
                                  point["estimated_fps"], (ratio / 2, ratio, ratio * 2))
    hls["power"] = power_of({k: hls[k] for k in keys + ("FF",)}, clock_mhz, hls["tiles_per_s"])
    record = {
        "schema": "tinyicenet-fpga-estimators", "schema_version": 1,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        **commit,
        "machine": {"host": platform.node(), "cpu": platform.machine(),
                    "python": platform.python_version()},
        "checkpoint": {"path_name": Path(args.checkpoint).name, "model": model.name,
                       "how": args.weights},
        "provenance": "modelled (analytical estimates of two tools; no synthesis, no board)",
        "timing": {"throughput": "queued", "latency": "synchronised"},
        "part": PART, "clock_mhz": clock_mhz, "tile": [args.tile, args.tile],
        "finn": {"tool": "FINN+ 1.6.1 estimate reports (step_generate_estimate_reports)",
                 "mvau_wwidth_max": MVAU_WWIDTH_MAX, "fps_definition":
                 "FINN's estimated_throughput_fps = clock / max layer cycles (pipelined)",
                 "points": finn, "verification": {k: verification[k] for k in
                                                  ("stages", "differing_total", "exact")}},
        "hls4ml": {"tool": "tinyicenet.hls planner + tinyicenet/hls/model (hls4ml 1.3 "
                           "io_stream design)",
                   "fps_definition": "tiles_per_s = clock / cycles per tile (one tile's latency, "
                                     "tiles not overlapped); fps_throughput_bound = clock / "
                                     "throughput_bound_cycles (slowest process, overlapped: "
                                     "FINN's definition)",
                   **hls},
        "comparison": {"what": "FINN folded for the hls4ml design's overlapped rate "
                               "(clock / throughput_bound_cycles), layer by layer",
                       "finn_point": closest["target_fps"],
                       "hls4ml_fps_throughput_bound": hls["fps_throughput_bound"],
                       "finn_estimated_fps": closest["estimated_fps"],
                       "threshold": DISAGREE,
                       "totals": {k: {"finn": closest[k], "hls4ml": hls[k]}
                                  for k in ("LUT", "BRAM_18K", "URAM", "DSP")},
                       "layers": compare_layers(closest, hls)},
        "power_model": hls["power"]["model"],
        "ff_per_lut_for_finn": [ratio / 2, ratio, ratio * 2],
    }
    write_text(args.out, json.dumps(record, indent=1, default=float) + "\n")
    print(f"FINN: " + ", ".join(f"{p['target_fps']:g}->{p['estimated_fps']:.0f} fps "
                                f"{p['LUT']:.0f} LUT" for p in finn))
    print(f"hls4ml: {hls['tiles_per_s']:.0f} tiles/s ({hls['fps_throughput_bound']:.0f} "
          f"overlapped) {hls['LUT']} LUT -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
