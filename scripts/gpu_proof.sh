#!/usr/bin/env bash
# Issue 17's GPU run: on one NVIDIA GPU, generate a small dataset with Cycles on the GPU, train HMR and
# then MVIPER with the default architecture (ResNet-50, 224 px crops, bf16 autocast), an HMR control for
# as many steps, and print the metric tables (test split) beside the baselines. Target: 8 minutes in all.
#
#   bash scripts/gpu_proof.sh [OUT]      # default OUT=out/gpu_proof; sizes below are environment variables
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUT=${1:-out/gpu_proof}
N_SEQ=${N_SEQ:-60}
GEN_WORKERS=${GEN_WORKERS:-4}        # cloth and annotation run on CPU cores beside the GPU render
HMR_STEPS=${HMR_STEPS:-600}
MVIPER_STEPS=${MVIPER_STEPS:-600}
LOADER_WORKERS=${LOADER_WORKERS:-8}  # benchmarks/train_loader.py on the GPU says how many keep up
TRAIN_CONFIG=${TRAIN_CONFIG:-default}
mkdir -p "$OUT"
start=$(date +%s)
log() { echo "[$(( $(date +%s) - start )) s] $*" | tee -a "$OUT/proof.log"; }
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a "$OUT/proof.log"

# dataset_cpu's sources and mix at 128 px with longer originals (1.2-2 s), rendered by Cycles on the GPU.
cat > "$OUT/data.yaml" <<YAML
n_seq: $N_SEQ
motion:
  sources: ["builtin:*", "shared:motion/cmu_bvh/*.bvh"]
  builtin_seconds: 8.0
  original_fraction: 0.5
  original_seconds: [1.2, 2.0]
  context_seconds: 0.5
render:
  resolution: 128
  device: gpu
shards:
  passes: [seg, depth]
run:
  workers: $GEN_WORKERS
YAML
log "generate $N_SEQ sequences (Cycles GPU)"
resume=(); [ -f "$OUT/data/plan.json" ] && resume=(--resume)
# exit 1: some sequences failed (failures.jsonl; `--resume` retries them); the rest is a dataset to train on
gen=0; $PY -m synth.cli generate --config "$OUT/data.yaml" --out "$OUT/data" "${resume[@]}" || gen=$?
[ "$gen" -le 1 ] || exit "$gen"
[ "$gen" -eq 0 ] || log "generate: some sequences failed (failures.jsonl); training on the rest"
log "train HMR $HMR_STEPS + MVIPER $MVIPER_STEPS ($TRAIN_CONFIG)"
$PY -m train.mviper train --data "$OUT/data" --out "$OUT/run" --config "$TRAIN_CONFIG" --device cuda \
    --hmr-steps "$HMR_STEPS" --mviper-steps "$MVIPER_STEPS" --workers "$LOADER_WORKERS" --resume
log "train the HMR control ($((HMR_STEPS + MVIPER_STEPS)) steps)"
$PY -m train.mviper train --data "$OUT/data" --out "$OUT/control" --config "$TRAIN_CONFIG" --device cuda \
    --stage hmr --hmr-steps "$((HMR_STEPS + MVIPER_STEPS))" --workers "$LOADER_WORKERS" --resume
log "eval"
$PY -m train.mviper eval --data "$OUT/data" --run "$OUT/run" --device cuda --preview "$OUT/preview_test.png" | tee "$OUT/eval_run_test.txt"
$PY -m train.mviper eval --data "$OUT/data" --run "$OUT/control" --models hmr --device cuda | tee "$OUT/eval_control_test.txt"
$PY -m train.curves "$OUT/run" "$OUT/control" --out "$OUT/curves.png"
log "done"
