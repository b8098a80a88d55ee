#!/usr/bin/env bash
# The GPU records on one GPU (bench result schema v1, every figure through
# tinyicenet.bench.harness: throughput and energy from queued windows, latency from
# synchronised calls):
#   $OUT/cuda-b<B>.json      `tinyicenet bench --target cuda --variant all`, per batch B
#   $OUT/gpu_kernels_h200.json (+ _bench.json)   bench/bench_gpu_kernels.py, when KERNELS=1
#
# Run from the repository root on the GPU machine (the package need not be installed):
#   bash bench/run_gpu.sh
# Settings (environment): OUT (default bench/results), WINDOW seconds per queued window (10),
# REPS windows per variant (3), WARMUP seconds (3), IDLE seconds (= WINDOW), LATENCY seconds of
# synchronised calls after each window (harness default), BATCHES ("1 64"), VARIANTS (all:
# eager-fp32, eager-fp16, compile-fp16, kernels; what cannot run here is dropped, said and
# recorded), NOTE (stored in each result), KERNELS (1: also run bench_gpu_kernels.py;
# only: run it alone),
# GK_CONFIGS ("256x1,256x64,1024x16"), GK_MODELS (folder written by
# `bench_gpu_kernels.py --prepare`; default: seeded synthetic models), GK_OUT (file name,
# gpu_kernels_h200.json), TARGET (cuda; `cpu` only to smoke-test this script off a GPU),
# TINYICENET_COMMIT (the commit to record where the copied tree has no .git:
#   TINYICENET_COMMIT=$(git rev-parse --short=12 HEAD) on the machine that sends the tree).
#
# tinyicenet.models imports Brevitas; where it is missing, wheels in .whl/ are installed into
# /tmp/site first (download them where pip works: brevitas==0.13.4 dependencies==2.0.1 unfoldNd, and
# jsonschema with its dependencies: the lent H200 image has none of them).
set -euo pipefail
OUT=${OUT:-bench/results}
WINDOW=${WINDOW:-10}
REPS=${REPS:-3}
WARMUP=${WARMUP:-3}
IDLE=${IDLE:-$WINDOW}
BATCHES=${BATCHES:-"1 64"}
VARIANTS=${VARIANTS:-all}
NOTE=${NOTE:-"run by bench/run_gpu.sh"}
KERNELS=${KERNELS:-0}
GK_CONFIGS=${GK_CONFIGS:-"256x1,256x64,1024x16"}
GK_OUT=${GK_OUT:-gpu_kernels_h200.json}
TARGET=${TARGET:-cuda}
LATENCY_ARGS=()
[ -n "${LATENCY:-}" ] && LATENCY_ARGS=(--latency "$LATENCY")
mkdir -p "$OUT"

source bench/device_env.sh brevitas jsonschema
export PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,driver_version,power.draw,power.limit,clocks.sm,temperature.gpu \
    --format=csv || true
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA')"

[ "$KERNELS" = only ] && BATCHES=""
for b in $BATCHES; do
    if [ "$TARGET" = cuda ]; then
        select=(--variant "$VARIANTS")
    else
        select=(--backend all)      # smoke test of this script on a CPU
    fi
    python3 -m tinyicenet bench --target "$TARGET" "${select[@]}" --batch "$b" \
        --window "$WINDOW" --repetitions "$REPS" --warmup "$WARMUP" --idle "$IDLE" \
        "${LATENCY_ARGS[@]}" --note "$NOTE" --quiet --out "$OUT/$TARGET-b$b.json"
done

if [ "$KERNELS" = 1 ] || [ "$KERNELS" = only ]; then
    GK_ARGS=()
    if [ -n "${GK_MODELS:-}" ]; then
        GK_ARGS=(--model "$GK_MODELS/tinyicenet_w8a8.npz" --scenes "$GK_MODELS/scenes.npz"
                 --check "$GK_MODELS/tinyicenet_w8a8.npz,$GK_MODELS/tinyicenet_w4a4.npz")
    fi
    [ "$TARGET" = cuda ] || GK_ARGS+=(--device cpu --no-peaks)
    python3 bench/bench_gpu_kernels.py "${GK_ARGS[@]}" --configs "$GK_CONFIGS" \
        --window "$WINDOW" --repetitions "$REPS" --warmup "$WARMUP" --idle "$IDLE" \
        "${LATENCY_ARGS[@]}" --out "$OUT/$GK_OUT"
fi

python3 - "$OUT" "$TARGET" <<'PY'
import json, pathlib, sys
def num(v, fmt):
    return "-" if v is None else format(v, fmt)
for path in sorted(pathlib.Path(sys.argv[1]).glob(f"{sys.argv[2]}-b*.json")):
    data = json.loads(path.read_text())
    for r in data if isinstance(data, list) else [data]:
        e, base = r["energy_mj"], r.get("baseline") or {}
        print(f"{path.name:14s} {r['variant'] or r['backend']:13s} b{r['batch']:<3d} "
              f"{num(r['tiles_per_s'], '10.1f')} tiles/s queued "
              f"({num(r.get('synchronised_tiles_per_s'), '.1f')} synchronised)  "
              f"p50 {num(r['latency_ms']['p50'], '8.3f')} ms  "
              f"{num(e['per_tile_gross'], '8.2f')} mJ/tile  "
              f"{num(e['per_scene_gross'], '9.1f')} mJ/scene  "
              f"above idle {num(e['per_scene_above_idle'], '8.1f')}  "
              f"{num(r['power_w']['average'], '6.1f')} W (idle {num(r['power_w']['idle'], '.1f')})  "
              f"x{num(base.get('tiles_per_s_ratio'), '.2f')} vs {base.get('variant')}")
    for d in (data[0] if isinstance(data, list) else data).get("dropped") or []:
        print(f"{path.name:14s} dropped {d['variant']}: {d['reason']}")
PY
