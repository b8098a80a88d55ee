#!/usr/bin/env python3
"""Why w2a2 collapses (issue 16, item 1): evidence per quantizer, and each candidate fix.

On generated scenes (``tinyicenet.data.synth``, train and test seeds disjoint) the script

1. trains the float model of each variant (skips / noskip) with a small CPU recipe;
2. for every candidate fix builds the w2a2 twin exactly as QAT starts (the trainer's own
   ``_to_qat``: float weights, range equalisation if asked, calibration) and measures, at each
   activation call site, the learned scale, the fraction of positive ReLU outputs that quantize
   to zero, the clipped fraction and the relative quantization error, next to the float
   model's distribution at that site; per conv the fraction of non-zero quantized weights and
   the weight-gradient norm of the first QAT step; the loss and pixel accuracy of a probe batch;
3. fine-tunes each (QAT, the trainer's recipe) and records the loss per epoch, how far the
   learned log2-scales moved, and the SOD weighted F1 on the held-out test scenes;
4. writes ``bench/results/w2a2_diagnosis.json`` (machine, date, commit).

Fixes: ``train.calibration=mse`` and ``train.equalize=true`` are training options (wired);
``weight_quant=mse`` is the MSE weight scale (``models.quantizers.LowBitWeightQuant``), which the
package has used for weights of at most ``MSE_WEIGHT_BITS`` (2) bits since this diagnosis;
"max" forces the max-|w| scale at every width, as before it.

    python bench/bench_w2a2.py                       # ~30 min on a loaded core
    python bench/bench_w2a2.py --variants noskip --fixes baseline,act_mse
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

#: name -> (config overrides, weight quantizer: "max" = the package's, "mse" = local variant)
FIXES: dict[str, tuple[list[str], str]] = {
    "baseline": (["train.calibration=percentile", "train.equalize=false"], "max"),
    "act_mse": (["train.calibration=mse", "train.equalize=false"], "max"),
    "act_mse+equalize": (["train.calibration=mse", "train.equalize=true"], "max"),
    "weight_mse": (["train.calibration=percentile", "train.equalize=false"], "mse"),
    "weight_mse+act_mse": (["train.calibration=mse", "train.equalize=false"], "mse"),
    "weight_mse+act_mse+equalize": (["train.calibration=mse", "train.equalize=true"], "mse"),
}


@contextlib.contextmanager
def weight_quantizer(kind: str) -> Iterator[None]:
    """Within the block, quantized models are built with the ``kind`` weight quantizer at every
    bit width: "max" (scale from max |w|, the package's choice above MSE_WEIGHT_BITS) or "mse"
    (the package's LowBitWeightQuant)."""
    import tinyicenet.models.quantizers as q

    old = q.MSE_WEIGHT_BITS
    q.MSE_WEIGHT_BITS = 0 if kind == "max" else q.MAX_BITS
    try:
        yield
    finally:
        q.MSE_WEIGHT_BITS = old


def base_overrides(args: argparse.Namespace, train_dir: Path, steps: int) -> list[str]:
    return [f"data.train={train_dir}", "data.val=[]", "data.val_count=0", "train.device=cpu",
            f"train.threads={args.threads}", f"train.batch={args.batch}",
            f"train.steps_per_epoch={steps}", *args.set]


def train_float(variant: str, args: argparse.Namespace, train_dir: Path) -> Path:
    from tinyicenet.train import load_config, run_training
    name = "tinyicenet_float" + ("" if variant == "skips" else "_noskip")
    cfg = load_config(args.config, [*base_overrides(args, train_dir, args.steps),
                                    f"model.name={name}",
                                    "train.qat_epochs=0", f"train.float_epochs={args.float_epochs}"])
    run_dir = args.workdir / variant / "fp32"
    if (run_dir / "final.pt").exists() and not args.retrain:
        return run_dir / "final.pt"
    return run_training(cfg, run_dir, quiet=args.quiet).final


def qat_config(variant: str, precision: str, fix: str, float_ckpt: Path,
               args: argparse.Namespace, train_dir: Path):
    from tinyicenet.train import load_config
    name = f"tinyicenet_{precision}" + ("" if variant == "skips" else "_noskip")
    return load_config(args.config, [*base_overrides(args, train_dir, args.qat_steps),
                                     *FIXES[fix][0],
                                     f"model.name={name}", "train.float_epochs=0",
                                     f"train.qat_epochs={args.qat_epochs}",
                                     f"model.init={float_ckpt}"])


def _site_stats(pre, out_value, scale: float, bits: int) -> dict:
    import torch
    r = torch.relu(pre)
    pos = r > 0
    n_pos = int(pos.sum())
    sub = r.flatten()[::3]
    p50, p99, p99999 = (float(v) for v in torch.quantile(
        sub[: 16_000_000], torch.tensor([0.5, 0.99, 0.99999])))
    energy = float((r * r).sum())
    return {
        "scale": scale, "top": (2 ** bits - 1) * scale,
        "relu_positive": n_pos / r.numel(),
        "positive_to_zero": float(((out_value == 0) & pos).sum()) / n_pos if n_pos else None,
        "clipped": float((r > (2 ** bits - 1) * scale).float().mean()),
        "relative_error": float(((out_value - r) ** 2).sum()) / energy if energy else None,
        "p50": p50, "p99": p99, "p99_999": p99999,
        "mean_positive": float(r[pos].mean()) if n_pos else None,
    }


def start_evidence(cfg, float_ckpt: Path, probe_steps: int) -> dict:
    """The w2a2 model as QAT starts: per call site and per conv (see module doc)."""
    import torch

    from tinyicenet.models import load_checkpoint
    from tinyicenet.models.calibrate import activation_sites, capture_inputs
    from tinyicenet.train import distributed
    from tinyicenet.train.trainer import _Trainer

    ctx = distributed.setup("cpu")
    trainer = _Trainer(cfg, Path("unused"), ctx, quiet=True)
    trainer._load_data()
    float_model, _ = load_checkpoint(float_ckpt)
    float_model.eval()
    qmodel = trainer._to_qat(float_model)
    qmodel.eval()
    probe = [trainer.sampler.batch(99, 0, s, cfg.train.batch, 0, 1) for s in range(probe_steps)]
    images = [p[0] for p in probe]
    target = torch.cat([p[1]["SOD"] for p in probe])

    sites: dict[str, dict] = {}
    float_acts = {names[0]: (act, names) for act, names in activation_sites(float_model)}
    for (act, names), (fact, _) in zip(activation_sites(qmodel), float_acts.values()):
        bits = int(act.act_quant.bit_width())
        scale = float(act.act_quant.scale().detach())
        seen_in, seen_out = [], []

        def hook(_m, inputs, out, seen_in=seen_in, seen_out=seen_out):
            seen_in.append(inputs[0].value.detach())
            seen_out.append(out.value.detach())

        handle = act.register_forward_hook(hook)
        with torch.no_grad():
            for x in images:
                qmodel(x)
        handle.remove()
        float_in = capture_inputs(float_model, fact, images)
        k = len(names)
        for i, name in enumerate(names):
            pre = torch.cat(seen_in[i::k])
            stats = _site_stats(pre, torch.cat(seen_out[i::k]), scale, bits)
            fpre = torch.relu(torch.cat(float_in[i::k]))
            stats["float_p99_999"] = float(torch.quantile(fpre.flatten()[::3][:16_000_000],
                                                          0.99999))
            stats["float_mean_positive"] = float(fpre[fpre > 0].mean())
            stats["quantizer"] = names[0] if k > 1 else name
            stats["shared_with"] = [n for n in names if n != name]
            sites[name] = stats

    qmodel.train()
    qmodel.zero_grad()
    logits = torch.cat([qmodel(x) for x in images])
    loss = torch.nn.functional.cross_entropy(logits, target, ignore_index=255)
    loss.backward()
    convs = {}
    for node in qmodel.graph():
        if node.op != "conv":
            continue
        w = node.module.quant_weight().value.detach()
        convs[node.name] = {"weight_nonzero": float((w != 0).float().mean()),
                            "weight_scale": float(node.module.quant_weight().scale.detach()),
                            "max_abs_weight": float(node.module.weight.detach().abs().max()),
                            "weight_grad_norm": float(node.module.weight.grad.norm())}
    with torch.no_grad():
        flogits = torch.cat([float_model(x) for x in images])
    valid = target != 255
    return {
        "sites": sites, "convs": convs, "equalized": trainer.equalized,
        "probe_loss": {"float": float(torch.nn.functional.cross_entropy(
            flogits, target, ignore_index=255)), "quantized": float(loss)},
        "probe_pixel_accuracy": {
            "float": float((flogits.argmax(1) == target)[valid].float().mean()),
            "quantized": float((logits.argmax(1) == target)[valid].float().mean())},
        "log2_scales": _log2_scales(qmodel),
    }


def _log2_scales(model) -> dict[str, float]:
    """Each activation quantizer's learnable log2-domain value (its scale is 2**ceil of it)."""
    from tinyicenet.models.calibrate import activation_sites
    return {names[0]: float(act.act_quant.fused_activation_quant_proxy.tensor_quant
                            .scaling_impl.value) for act, names in activation_sites(model)}


def run_qat(cfg, run_dir: Path, test_dir: Path, args: argparse.Namespace) -> dict:
    from tinyicenet.evaluate import evaluate
    from tinyicenet.models import load_checkpoint
    from tinyicenet.train import run_training
    t0 = time.perf_counter()
    result = run_training(cfg, run_dir, quiet=args.quiet)
    train_s = time.perf_counter() - t0
    ev = evaluate(result.final, [test_dir], run_dir / "eval", device="cpu",
                  tile=cfg.eval.tile, halo=cfg.eval.halo, quiet=True)
    final, _ = load_checkpoint(result.final)
    return {"loss_per_epoch": [round(h["loss"], 4) for h in result.history],
            "test_sod_f1": ev["metrics"]["SOD"]["score"],
            "test_sod_per_class_f1": {r["name"]: r["f1"] for r in ev["metrics"]["SOD"]["per_class"]},
            "log2_scales_end": _log2_scales(final), "train_s": round(train_s, 1)}


def summary_line(variant: str, fix: str, rec: dict) -> str:
    s = rec["start"]["sites"]
    parts = [f"{n}: ->0 {v['positive_to_zero'] or 0:.2f} err {v['relative_error'] or 0:.2f}"
             for n, v in s.items()]
    nz = " ".join(f"{n} {v['weight_nonzero']:.2f}" for n, v in rec["start"]["convs"].items())
    q = rec.get("qat", {})
    return (f"{variant:6s} {fix:28s} start loss {rec['start']['probe_loss']['quantized']:.2f} "
            f"acc {rec['start']['probe_pixel_accuracy']['quantized']:.2f} | "
            + " | ".join(parts) + f" | w!=0 {nz}"
            + (f" | QAT loss {q['loss_per_epoch']} test F1 {q['test_sod_f1']:.1f}" if q else ""))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="accuracy")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--variants", default="skips,noskip")
    ap.add_argument("--fixes", default=",".join(FIXES))
    ap.add_argument("--precision", default="w2a2")
    ap.add_argument("--train-scenes", type=int, default=6)
    ap.add_argument("--test-scenes", type=int, default=2)
    ap.add_argument("--size", type=int, default=1000, help="scene side in 80 m pixels")
    ap.add_argument("--train-seed", type=int, default=1)
    ap.add_argument("--test-seed", type=int, default=2)
    ap.add_argument("--float-epochs", type=int, default=8)
    ap.add_argument("--qat-epochs", type=int, default=1)
    ap.add_argument("--steps", type=int, default=50, help="float steps per epoch")
    ap.add_argument("--qat-steps", type=int, default=40, help="QAT steps per epoch")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--probe-steps", type=int, default=2, help="probe batches for the evidence")
    ap.add_argument("--no-qat", action="store_true", help="evidence at QAT start only")
    ap.add_argument("--retrain", action="store_true", help="retrain the float models")
    ap.add_argument("--workdir", type=Path, default=ROOT / "runs" / "w2a2")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "w2a2_diagnosis.json")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    fixes = [f for f in args.fixes.split(",") if f]
    bad = [f for f in fixes if f not in FIXES] + [v for v in variants
                                                  if v not in ("skips", "noskip")]
    if bad:
        ap.error(f"unknown fix or variant {bad}; fixes: {', '.join(FIXES)}")

    import torch
    torch.set_num_threads(args.threads)
    from bench_accuracy import generate

    from tinyicenet.atomic import write_text
    from tinyicenet.bench.sysinfo import commit, host_info, now_iso
    t0 = time.perf_counter()
    source = commit()  # the tree that runs, read before anything else can change it
    scenes = args.workdir / "scenes"
    train_dir = scenes / f"train_seed{args.train_seed}"
    test_dir = scenes / f"test_seed{args.test_seed}"
    generate(train_dir, args.train_scenes, args.size, args.train_seed, 1)
    generate(test_dir, args.test_scenes, args.size, args.test_seed, 1)
    records: dict[str, dict] = {}
    for variant in variants:
        float_ckpt = train_float(variant, args, train_dir)
        records[variant] = {}
        for fix in fixes:
            if variant == "noskip" and "equalize" in fix:
                continue  # nothing is shared without skips
            with weight_quantizer(FIXES[fix][1]):
                cfg = qat_config(variant, args.precision, fix, float_ckpt, args, train_dir)
                rec = {"overrides": FIXES[fix][0], "weight_quant": FIXES[fix][1],
                       "start": start_evidence(cfg, float_ckpt, args.probe_steps)}
                if not args.no_qat:
                    rec["qat"] = run_qat(cfg, args.workdir / variant / f"{args.precision}_{fix}",
                                         test_dir, args)
            records[variant][fix] = rec
            print(summary_line(variant, fix, rec), flush=True)

    doc = {
        "schema": "tinyicenet-w2a2-diagnosis", "schema_version": 1,
        "precision": args.precision, "records": records,
        "setup": {
            "data": "synthetic (generated scenes, tinyicenet.data.synth)",
            "train_scenes": args.train_scenes, "test_scenes": args.test_scenes,
            "size": args.size, "seeds": {"train": args.train_seed, "test": args.test_seed},
            "recipe": {"config": args.config, "float_epochs": args.float_epochs,
                       "qat_epochs": args.qat_epochs, "steps_per_epoch": args.steps,
                       "qat_steps_per_epoch": args.qat_steps,
                       "batch": args.batch, "overrides": args.set},
            "fixes": {k: {"overrides": v[0], "weight_quant": v[1]} for k, v in FIXES.items()},
            "note": "weight_quant 'max' forces the max-|w| weight scale at every bit width, "
                    "'mse' the MSE scale (models.quantizers.LowBitWeightQuant) at every width",
            "machine": host_info(threads=args.threads), "date": now_iso(), "commit": source,
            "wall_s": round(time.perf_counter() - t0, 1),
        },
    }
    write_text(args.out, json.dumps(doc, indent=1, default=_json_default) + "\n")
    print(f"wrote {args.out}")
    return 0


def _json_default(o):
    if isinstance(o, float) and not math.isfinite(o):
        return None
    raise TypeError(type(o).__name__)


if __name__ == "__main__":
    sys.exit(main())
