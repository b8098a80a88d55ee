#!/usr/bin/env python3
"""Accuracy against bit width: float, w8a8, w4a4, w3a3, w2a2, with and without skips.

Issue 3, item 6: on generated scenes with held-out seeds the w4a4 QAT model must reach SOD
weighted F1 >= 0.85 and stay within 2 points of its float twin. The sweep

1. generates ``--train-scenes`` training and ``--test-scenes`` test scenes in the AI4Arctic
   layout with different seeds (``--train-seed``, ``--test-seed``: the test scenes are never
   seen in training or model selection; no validation set is used at all);
2. per variant (skips / noskip) trains the float model with the ``--config`` recipe
   (``tinyicenet.train.run_training``, float phase only), then fine-tunes each quantized twin from
   that float checkpoint with the same recipe's QAT phase (``model.init``, ``float_epochs=0``): the
   float pre-training is shared, as it would be identical in each ``tinyicenet train`` run;
3. evaluates every final checkpoint on the full test scenes (``tinyicenet.evaluate``);
4. writes ``bench/results/accuracy.json`` (format ``tinyicenet-accuracy`` v1, read by the
   report's Pareto chart; ``sod_f1`` is a fraction) and ``accuracy.md`` (a table).

    python bench/bench_accuracy.py                        # the full sweep on this machine
    python bench/bench_accuracy.py --precisions fp32,w4a4 --variants skips --out /tmp/a.json
    python bench/bench_accuracy.py --device cuda --jobs 2  # variants in parallel on 2 GPUs

Timings depend on the machine and its load; the result records both.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

TARGET_F1 = 0.85
MAX_GAP_POINTS = 2.0
PRECISIONS = ("fp32", "w8a8", "w4a4", "w3a3", "w2a2")


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _write_one(args: tuple[str, int, int, int]) -> str:
    from tinyicenet.data.synth import generate_scene, write_scene
    out, index, size, seed = args
    ds = generate_scene((size, size), seed=seed, index=index)
    return str(write_scene(ds, Path(out) / ds.attrs["file_name"]))


def generate(folder: Path, n: int, size: int, seed: int, jobs: int) -> list[Path]:
    """Scenes ``0..n-1`` of ``seed`` (reused when the folder already holds that set)."""
    marker = folder / "scenes.json"
    spec = {"n": n, "size": size, "seed": seed}
    if marker.exists() and json.loads(marker.read_text()) == spec:
        return sorted(folder.glob("*_prep.nc"))
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.nc"):
        old.unlink()
    work = [(str(folder), i, size, seed) for i in range(n)]
    if jobs > 1:
        with cf.ProcessPoolExecutor(jobs) as pool:
            list(pool.map(_write_one, work))
    else:
        for w in work:
            _write_one(w)
    marker.write_text(json.dumps(spec))
    return sorted(folder.glob("*_prep.nc"))


def model_name(precision: str, skips: bool) -> str:
    base = "tinyicenet_float" if precision == "fp32" else f"tinyicenet_{precision}"
    return base + ("" if skips else "_noskip")


def run_variant(skips: bool, precisions: list[str], args: argparse.Namespace,
                train_dir: Path, test_dir: Path) -> list[dict]:
    """Float model, then each quantized twin fine-tuned from it; evaluated on the test scenes."""
    from tinyicenet.evaluate import evaluate
    from tinyicenet.train import load_config, run_training

    variant = "skips" if skips else "noskip"
    base = [f"data.train={train_dir}", "data.val=[]", "data.val_count=0",
            f"train.device={args.device}", *args.set]
    float_name = model_name("fp32", skips)
    cfg = load_config(args.config, [*base, f"model.name={float_name}", "train.qat_epochs=0"])
    qat_epochs = load_config(args.config, base).train.qat_epochs
    entries = []
    float_ckpt = args.workdir / variant / "fp32" / "final.pt"
    runs = [("fp32", cfg)]
    for p in precisions:
        if p == "fp32":
            continue
        runs.append((p, load_config(args.config, [
            *base, f"model.name={model_name(p, skips)}", "train.float_epochs=0",
            f"train.qat_epochs={qat_epochs}", f"model.init={float_ckpt}"])))
    for precision, run_cfg in runs:
        run_dir = args.workdir / variant / precision
        t0 = time.perf_counter()
        if precision == "fp32" and args.reuse_float and (run_dir / "final.pt").exists():
            # the float model of an earlier sweep with the same recipe (its QAT settings differ)
            result = _reused_float(run_dir)
        else:
            result = run_training(run_cfg, run_dir, quiet=args.quiet)
        train_s = time.perf_counter() - t0
        ev = evaluate(result.final, [test_dir], run_dir / "eval", device=args.device,
                      tile=run_cfg.eval.tile, halo=run_cfg.eval.halo, quiet=args.quiet)
        sod = ev["metrics"]["SOD"]
        entries.append({
            "model": run_cfg.model.name, "precision": precision,
            "weight_bits": ev["weight_bits"], "act_bits": ev["act_bits"], "skips": skips,
            "sod_f1": sod["score"] / 100.0,
            "sod_f1_macro": (sod["f1_macro"] or 0.0) / 100.0,
            "sod_per_class_f1": {r["name"]: (None if r["f1"] is None else r["f1"] / 100.0)
                                 for r in sod["per_class"]},
            # AutoICE's combined score exists only for a SIC+SOD+FLOE model
            "score": None if ev["combined_score"] is None else ev["combined_score"] / 100.0,
            "split": "test", "data": "synthetic", "scenes": len(ev["scenes"]),
            "pixels": sod["pixels"],
            "seeds": {"train": args.train_seed, "test": args.test_seed},
            "epochs": {"float": cfg.train.float_epochs,
                       "qat": run_cfg.train.qat_epochs if precision != "fp32" else 0},
            "train_s": round(train_s, 1),
            "train_samples_per_s": round(sum(r["samples_per_s"] for r in result.history)
                                         / len(result.history), 1),
            "checkpoint": str(result.final.relative_to(args.workdir)),
        })
        print(f"{run_cfg.model.name:28s} SOD F1 {sod['score']:.2f}  ({train_s:.0f} s)",
              flush=True)
    float_f1 = entries[0]["sod_f1"]
    for e in entries:
        e["gap_to_fp32_points"] = round(100.0 * (float_f1 - e["sod_f1"]), 3)
    return entries


def _reused_float(run_dir: Path):
    """A finished float run read back from its folder (final.pt and metrics.json)."""
    from tinyicenet.train.trainer import TrainResult
    history = json.loads((run_dir / "metrics.json").read_text())
    history = history.get("epochs", history) if isinstance(history, dict) else history
    return TrainResult(run_dir, run_dir / "final.pt", None, list(history))


def markdown(doc: dict) -> str:
    setup = doc["setup"]
    lines = [
        "# Accuracy against bit width (generated scenes, held-out seeds)", "",
        f"SOD weighted F1 (x100) on {setup['test_scenes']} test scenes of seed "
        f"{setup['test_seed']}, models trained on {setup['train_scenes']} scenes of seed "
        f"{setup['train_seed']} ({setup['size']} x {setup['size']} px at 80 m, downsample "
        f"{setup['downsample']}). Recipe: `{setup['config']}` config"
        + (f" with {' '.join(setup['overrides'])}" if setup["overrides"] else "") + ".", "",
        "| model | precision | skips | SOD F1 | gap to fp32 (points) | train s |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for e in doc["results"]:
        lines.append(f"| {e['model']} | {e['precision']} | {'yes' if e['skips'] else 'no'} | "
                     f"{100 * e['sod_f1']:.2f} | {e['gap_to_fp32_points']:.2f} | {e['train_s']} |")
    w4 = [e for e in doc["results"] if e["precision"] == "w4a4" and e["skips"]]
    if w4:
        e = w4[0]
        ok = e["sod_f1"] >= TARGET_F1 and e["gap_to_fp32_points"] <= MAX_GAP_POINTS
        lines += ["", f"Target (w4a4 with skips: F1 >= {100 * TARGET_F1:.0f}, within "
                      f"{MAX_GAP_POINTS:.0f} points of fp32): **{'met' if ok else 'not met'}** "
                      f"({100 * e['sod_f1']:.2f}, gap {e['gap_to_fp32_points']:.2f})."]
    lines += ["", f"Machine: {setup['host']}, device {setup['device']}, {setup['date']}, commit "
                  f"{setup['commit']}, load average at start {setup['load_start']}, wall "
                  f"{setup['wall_s']} s.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="accuracy", help="packaged config or YAML (recipe)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override (repeatable)")
    ap.add_argument("--precisions", default=",".join(PRECISIONS))
    ap.add_argument("--variants", default="skips,noskip")
    ap.add_argument("--train-scenes", type=int, default=8)
    ap.add_argument("--test-scenes", type=int, default=4)
    ap.add_argument("--size", type=int, default=2000, help="scene side in 80 m pixels")
    ap.add_argument("--train-seed", type=int, default=1)
    ap.add_argument("--test-seed", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=ROOT / "runs" / "accuracy")
    ap.add_argument("--scenes", type=Path, default=None, help="scene cache (default workdir)")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    ap.add_argument("--jobs", type=int, default=1,
                    help="variants in parallel processes (spread over the GPUs with --device "
                         "cuda)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "accuracy.json")
    ap.add_argument("--reuse-float", action="store_true",
                    help="keep a float final.pt already in the workdir (same recipe) instead of "
                         "training it again")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    bad = [p for p in precisions if p != "fp32" and not re.fullmatch(r"w[2-8]a[2-8]", p)]
    if bad or "fp32" not in precisions:
        ap.error(f"--precisions must include fp32 and use w{{W}}a{{A}} names (got {bad})")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if not set(variants) <= {"skips", "noskip"}:
        ap.error("--variants takes skips and/or noskip")

    from tinyicenet.bench.sysinfo import commit
    from tinyicenet.train import load_config
    recipe = load_config(args.config, [f"data.train={args.workdir}", *args.set])
    t0 = time.perf_counter()
    source = commit()  # the tree that runs, read before anything else can change it
    load_start = _load()
    scenes = args.scenes or args.workdir / "scenes"
    gen_jobs = max(1, min(os.cpu_count() or 1, 8))
    train_dir = scenes / f"train_seed{args.train_seed}"
    test_dir = scenes / f"test_seed{args.test_seed}"
    generate(train_dir, args.train_scenes, args.size, args.train_seed, gen_jobs)
    generate(test_dir, args.test_scenes, args.size, args.test_seed, gen_jobs)
    print(f"scenes ready ({time.perf_counter() - t0:.0f} s)", flush=True)

    results: list[dict] = []
    if args.jobs > 1 and len(variants) > 1:
        # one subprocess per variant (its own GPU when on CUDA); each writes a partial result
        procs = []
        import torch
        gpus = torch.cuda.device_count() if args.device != "cpu" else 0
        for i, v in enumerate(variants):
            env = dict(os.environ)
            if gpus:  # spread the variants over the GPUs (several share one if needed)
                env["CUDA_VISIBLE_DEVICES"] = str(i % gpus)
            part = args.workdir / f"part_{v}.json"
            cmd = [sys.executable, __file__, "--variants", v, "--out", str(part),
                   "--precisions", args.precisions, "--config", args.config,
                   "--train-scenes", str(args.train_scenes), "--test-scenes",
                   str(args.test_scenes), "--size", str(args.size), "--train-seed",
                   str(args.train_seed), "--test-seed", str(args.test_seed), "--workdir",
                   str(args.workdir), "--scenes", str(scenes), "--device", args.device,
                   "--quiet", *[a for s in args.set for a in ("--set", s)],
                   *(["--reuse-float"] if args.reuse_float else [])]
            procs.append((part, subprocess.Popen(cmd, env=env)))
        for part, proc in procs:
            if proc.wait() != 0:
                print(f"error: variant run for {part.name} failed", file=sys.stderr)
                return 1
            results += json.loads(part.read_text())["results"]
    else:
        for v in variants:
            results += run_variant(v == "skips", precisions, args, train_dir, test_dir)

    import torch
    doc = {
        "schema": "tinyicenet-accuracy", "schema_version": 1,
        "results": results,
        "setup": {
            "config": args.config, "overrides": args.set,
            "recipe": recipe.to_dict() | {"data": {**recipe.to_dict()["data"], "train": []}},
            "downsample": recipe.data.downsample,
            "train_scenes": args.train_scenes, "test_scenes": args.test_scenes,
            "size": args.size, "train_seed": args.train_seed, "test_seed": args.test_seed,
            "target": {"sod_f1": TARGET_F1, "max_gap_points": MAX_GAP_POINTS},
            "device": (torch.cuda.get_device_name(0) if args.device != "cpu"
                       and torch.cuda.is_available() else f"cpu ({os.cpu_count()} cores)"),
            "torch": torch.__version__, "host": platform.node(),
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "commit": source, "load_start": load_start, "load_end": _load(),
            "wall_s": round(time.perf_counter() - t0, 1),
            "note": "QAT models start from the shared float checkpoint of their variant",
        },
    }
    from tinyicenet.atomic import write_text
    write_text(args.out, json.dumps(doc, indent=1) + "\n")
    if args.out.suffix == ".json" and not args.out.name.startswith("part_"):
        write_text(args.out.with_suffix(".md"), markdown(doc))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
