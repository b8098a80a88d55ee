#!/usr/bin/env bash
# The `cpu` target on this machine: PyTorch (and ONNX Runtime once its backend is registered),
# results as JSON (bench result schema v1) in $OUT (default bench/results).
# Settings (environment): WINDOW (10), REPS (3), WARMUP (3), BATCHES ("1 4"), MODEL (the
# float TinyIceNet unless a checkpoint/ONNX file is given), NOTE (stored in each result, e.g.
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
BACKENDS=$(python3 -c "from tinyicenet.backends import available_backends as a; print(' '.join(b for b in ('torch', 'onnxruntime') if b in a(check=True)))")
mkdir -p "$OUT"
for backend in $BACKENDS; do
    for b in $BATCHES; do
        python3 -m tinyicenet bench --target cpu --backend "$backend" --batch "$b" \
            --window "$WINDOW" --repetitions "$REPS" --warmup "$WARMUP" --idle 2 \
            "${MODEL_ARGS[@]}" --note "$NOTE" --quiet --out "$OUT/cpu-$backend-b$b.json"
    done
done
