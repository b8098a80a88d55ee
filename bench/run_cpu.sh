#!/usr/bin/env bash
# The `cpu` target on this machine: PyTorch and ONNX Runtime (`--backend all`; a backend that
# cannot run here is dropped, said and recorded), results as JSON (bench result schema v1) in
# $OUT (default bench/results), one file per backend and batch: cpu-<backend>-b<B>.json.
# Settings (environment): WINDOW (10), REPS (3), WARMUP (3), BATCHES ("1 4"), LATENCY
# (seconds of synchronised calls after each window; harness default), MODEL (the float
# TinyIceNet unless a checkpoint/ONNX file is given), NOTE (stored in each result, e.g.
# "taken under load from other processes").
set -euo pipefail
OUT=${OUT:-bench/results}
WINDOW=${WINDOW:-10}
REPS=${REPS:-3}
WARMUP=${WARMUP:-3}
BATCHES=${BATCHES:-"1 4"}
NOTE=${NOTE:-"run by bench/run_cpu.sh"}
MODEL_ARGS=()
[ -n "${MODEL:-}" ] && MODEL_ARGS=(--model "$MODEL")
[ -n "${LATENCY:-}" ] && MODEL_ARGS+=(--latency "$LATENCY")
mkdir -p "$OUT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for b in $BATCHES; do
    python3 -m tinyicenet bench --target cpu --backend all --batch "$b" \
        --window "$WINDOW" --repetitions "$REPS" --warmup "$WARMUP" --idle 2 \
        "${MODEL_ARGS[@]}" --note "$NOTE" --quiet --out "$tmp/cpu-b$b.json"
    # one file per backend (each record keeps the run's `dropped` and `baseline`)
    python3 - "$tmp/cpu-b$b.json" "$OUT" "$b" <<'PY'
import sys
from tinyicenet.bench.schema import load_results, write_results
for r in load_results(sys.argv[1]):
    print("wrote", write_results(f"{sys.argv[2]}/cpu-{r['backend']}-b{sys.argv[3]}.json", r))
PY
done
