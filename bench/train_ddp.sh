#!/usr/bin/env bash
# Training throughput with 1 GPU and with N GPUs (DDP through torchrun), same command, same
# per-GPU batch; writes one JSON result (issue 3, item 4).
#
# Run from the repository root on a multi-GPU machine (the package need not be installed):
#   bash bench/train_ddp.sh                 # writes bench/results/ddp_h200x2.json
# Settings (environment): OUT (result folder, default bench/results), NAME (result file stem,
# default ddp_h200x2), NGPU (default: all visible), WORK (scratch, default /tmp/tinyicenet_ddp),
# SCENES / SIZE (training scenes and their side in 80 m pixels: 8, 2000), EPOCHS (float epochs,
# 3; plus 1 QAT epoch), STEPS (steps per epoch, 100), BATCH (per GPU, 64), PATCH (128),
# TINYICENET_COMMIT (commit to record where the tree has no .git), DEVICE (cuda; "cpu" with
# NGPU=2 runs the same comparison with CPU processes and gloo, a dry run of this script).
#
# tinyicenet imports Brevitas and reads NetCDF through netCDF4; where they are missing, wheels
# in .whl/ are installed into /tmp/site first (brevitas==0.13.4 dependencies==2.0.1 unfoldNd
# netCDF4 cftime, downloaded where pip works).
set -euo pipefail
OUT=${OUT:-bench/results}
NAME=${NAME:-ddp_h200x2}
WORK=${WORK:-/tmp/tinyicenet_ddp}
SCENES=${SCENES:-8}
SIZE=${SIZE:-2000}
EPOCHS=${EPOCHS:-3}
STEPS=${STEPS:-100}
BATCH=${BATCH:-64}
PATCH=${PATCH:-128}
DEVICE=${DEVICE:-cuda}
# NVLink multicast stays off (shared hosts); keep it so in every child process.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export SCENES SIZE DEVICE PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}

source bench/device_env.sh brevitas netCDF4 jsonschema
NGPU=${NGPU:-$(python3 -c "import torch; print(torch.cuda.device_count())")}
if [ "$NGPU" -lt 1 ]; then echo "error: no CUDA device (set DEVICE=cpu NGPU=2 for a dry run)" >&2; exit 4; fi
mkdir -p "$OUT" "$WORK"

# scenes: training (seed 1) and validation (seed 3), generated in parallel
python3 - "$WORK" "$SCENES" "$SIZE" <<'PY'
import sys
sys.path.insert(0, "bench")
from pathlib import Path
from bench_accuracy import generate
work, n, size = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
generate(work / "train", n, size, 1, 16)
generate(work / "val", 2, size, 3, 16)
PY

SETS=(--set "train.float_epochs=$EPOCHS" --set train.qat_epochs=1 --set "train.steps_per_epoch=$STEPS"
      --set "train.batch=$BATCH" --set "data.patch=$PATCH" --set "train.device=$DEVICE"
      --set eval.every=100)
CMD1="python3 -m tinyicenet train --quiet --data $WORK/train --val $WORK/val ${SETS[*]}"
rm -rf "$WORK/run1" "$WORK/run$NGPU"
T0=$(date +%s.%N)
CUDA_VISIBLE_DEVICES=0 $CMD1 --out "$WORK/run1"
T1=$(date +%s.%N)
CMDN="python3 -m torch.distributed.run --standalone --nproc_per_node $NGPU -m tinyicenet train --quiet --data $WORK/train --val $WORK/val ${SETS[*]}"
$CMDN --out "$WORK/run$NGPU"
T2=$(date +%s.%N)

python3 - "$WORK" "$NGPU" "$OUT/$NAME.json" "$CMD1" "$CMDN" "$T0" "$T1" "$T2" <<'PY'
import datetime as dt, json, os, platform, sys
from pathlib import Path
import torch
work, ngpu, out, cmd1, cmdn = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), *sys.argv[4:6]
t0, t1, t2 = map(float, sys.argv[6:9])

def run(folder, wall):
    rows = json.loads((folder / "metrics.json").read_text())["epochs"]
    flt = [r for r in rows if r["phase"] == "float"]
    qat = [r for r in rows if r["phase"] == "qat"]
    steady = flt[1:] or flt  # the first epoch includes CUDA/cuDNN warm-up
    last = rows[-1]
    return {"world_size": rows[0]["world_size"],
            "samples_per_s_float": sum(r["samples_per_s"] for r in steady) / len(steady),
            "samples_per_s_float_first_epoch": flt[0]["samples_per_s"],
            "samples_per_s_qat": sum(r["samples_per_s"] for r in qat) / max(1, len(qat)),
            "epochs": [{k: r[k] for k in ("epoch", "phase", "loss", "lr", "val_sod_f1",
                                          "train_time_s", "samples_per_s")} for r in rows],
            "final": {"model": last["model"], "loss": last["loss"],
                      "val_sod_f1": last["val_sod_f1"]},
            "wall_s": round(wall, 1)}

one, many = run(work / "run1", t1 - t0), run(work / f"run{ngpu}", t2 - t1)
from tinyicenet.bench.sysinfo import commit as source_commit
commit = source_commit()
doc = {
    "schema": "tinyicenet-train-ddp", "schema_version": 1,
    "what": "training throughput, same tinyicenet train command on 1 GPU and under torchrun "
            f"on {ngpu} GPUs (DDP, nccl), same per-GPU batch",
    "command_1gpu": cmd1 + f" --out {work}/run1",
    "command_ngpu": cmdn + f" --out {work}/run{ngpu}",
    "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            if os.environ.get("DEVICE", "cuda") == "cuda" else [],
    "device": os.environ.get("DEVICE", "cuda"),
    "results": {"1": one, str(ngpu): many},
    "speedup_float": many["samples_per_s_float"] / one["samples_per_s_float"],
    "scaling_efficiency_float": many["samples_per_s_float"] / one["samples_per_s_float"] / ngpu,
    "speedup_qat": (many["samples_per_s_qat"] / one["samples_per_s_qat"]
                    if one["samples_per_s_qat"] else None),
    "method": {"throughput": "measured: patches per second of the training loop (sampling, "
                             "augmentation, forward, backward, optimizer; validation excluded), "
                             "mean over float epochs after the first; QAT: its one epoch",
               "final_metrics": "validation SOD weighted F1 (x100) on 2 generated scenes of "
                                "seed 3 after the last epoch"},
    "torch": torch.__version__, "host": platform.node(),
    "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "commit": commit,
}
import yaml
doc["config"] = yaml.safe_load((work / "run1" / "config.yaml").read_text())
doc["config"]["data"]["train"] = [f"<generated: {os.environ.get('SCENES', 8)} scenes of "
                                  f"{os.environ.get('SIZE', 2000)}^2 px, seed 1>"]
doc["config"]["data"]["val"] = ["<generated: 2 scenes, seed 3>"]
doc["per_gpu_batch"] = doc["config"]["train"]["batch"]
out.write_text(json.dumps(doc, indent=1) + "\n")
print(json.dumps({k: doc[k] for k in ("speedup_float", "scaling_efficiency_float",
                                       "speedup_qat")}, indent=1))
for n, r in doc["results"].items():
    print(n, "GPU:", round(r["samples_per_s_float"]), "samples/s float,",
          round(r["samples_per_s_qat"]), "QAT; final", r["final"])
PY
