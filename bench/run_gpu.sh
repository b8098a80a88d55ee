#!/usr/bin/env bash
# Every `cuda` variant of the bench on one GPU, results as JSON (bench result schema v1).
#
# Run from the repository root on the GPU machine (package not installed there is fine):
#   bash bench/run_gpu.sh                      # writes $OUT/cuda-b1.json, $OUT/cuda-b64.json
# Settings (environment): OUT (default bench/results), WINDOW seconds per window (10),
# REPS windows per variant (3), WARMUP seconds (3), IDLE seconds (= WINDOW),
# BATCHES ("1 64"), VARIANTS (all = eager-fp32, eager-fp16, compile-fp16 and, once the
# cuda-kernels backend is registered, kernels), NOTE (extra note stored in each result),
# TINYICENET_COMMIT (the commit to record where the copied tree has no .git:
#   TINYICENET_COMMIT=$(git rev-parse --short=12 HEAD) on the machine that sends the tree).
#
# tinyicenet.models imports Brevitas; where it is missing, wheels in .whl/ are installed into
# /tmp/site first (download them where pip works: brevitas==0.13.4 dependencies==2.0.1 unfoldNd).
set -euo pipefail
OUT=${OUT:-bench/results}
WINDOW=${WINDOW:-10}
REPS=${REPS:-3}
WARMUP=${WARMUP:-3}
IDLE=${IDLE:-$WINDOW}
BATCHES=${BATCHES:-"1 64"}
VARIANTS=${VARIANTS:-all}
NOTE=${NOTE:-"run by bench/run_gpu.sh"}
mkdir -p "$OUT"

source bench/device_env.sh brevitas
export PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,driver_version,power.draw,power.limit,clocks.sm,temperature.gpu \
    --format=csv || true
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"

for b in $BATCHES; do
    python3 -m tinyicenet bench --target cuda --variant "$VARIANTS" --batch "$b" \
        --window "$WINDOW" --repetitions "$REPS" --warmup "$WARMUP" --idle "$IDLE" \
        --note "$NOTE" --quiet --out "$OUT/cuda-b$b.json"
done

python3 - "$OUT" <<'EOF'
import json, pathlib, sys
for path in sorted(pathlib.Path(sys.argv[1]).glob("cuda-b*.json")):
    data = json.loads(path.read_text())
    for r in data if isinstance(data, list) else [data]:
        e = r["energy_mj"]
        print(f"{path.name:14s} {r['variant']:13s} b{r['batch']:<3d} "
              f"{r['tiles_per_s']:10.1f} tiles/s  p50 {r['latency_ms']['p50']:8.3f} ms  "
              f"{e['per_tile_gross'] or float('nan'):8.2f} mJ/tile  "
              f"{e['per_scene_gross'] or float('nan'):9.1f} mJ/scene  "
              f"above idle {e['per_scene_above_idle'] or float('nan'):8.1f}  "
              f"{r['power_w']['average'] or float('nan'):6.1f} W (idle {r['power_w']['idle'] or float('nan'):.1f})")
EOF
