#!/usr/bin/env bash
# The EGC example end to end on Fashion-MNIST (32×32, 1 channel): sets up the
# machine, builds ebm, then
#   1. trains EGC (Fisher + cross-entropy, exact second derivatives) and, for
#      the robustness comparison, a plain cross-entropy classifier of the same
#      network for the same number of steps;
#   2. classifies the test set (accuracy, confusion matrix, per-image CSV);
#   3. samples with DDIM and classifier guidance (a row per class), writes the
#      samples as IDX and scores them with the evaluation tool;
#   4. inpaints masked test images (RePaint);
#   5. attacks both classifiers with FGSM and PGD (curves as CSV and PNG).
# Everything lands in out/egc/ (override with OUT=...).  PRESET=demo (default,
# about 5 + 5 minutes of training on 2 cores) or hour; STEPS=N overrides the
# preset's step count.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out/egc}
preset=${PRESET:-demo}
steps=()
[[ -n "${STEPS:-}" ]] && steps=(--steps "$STEPS")

scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DEBM_BUILD_TESTS=OFF -DEBM_BUILD_BENCHMARKS=OFF
cmake --build build/release -j "$(nproc)"
bin=build/release/examples
mkdir -p "$out"
start=$(date +%s)

train() {  # train DIR [options]: resumes an interrupted run in DIR
  local dir=$1; shift
  local resume=()
  [[ -f "$dir/checkpoint.ebm" && "${RESUME:-1}" == 1 ]] && resume=(--resume)
  "$bin/ebm_egc" train --preset "$preset" "${steps[@]}" --out "$dir" "${resume[@]}" "$@"
}

echo "== 1. training EGC (preset $preset), then the plain classifier"
train "$out"
train "$out/classifier" --mode classifier | tail -n 3
ck="$out/checkpoint.ebm"

echo "== 2. classification of the test set"
"$bin/ebm_egc" classify --checkpoint "$ck" | tee "$out/classify.txt"
"$bin/ebm_egc" classify --checkpoint "$out/classifier/checkpoint.ebm" | head -n 1 | tee "$out/classifier/classify.txt"

echo "== 3. guided generation and its evaluation"
"$bin/ebm_egc" sample --checkpoint "$ck" --n 100 --samples-out "$out/samples.idx"
"$bin/ebm_egc" sample --checkpoint "$ck" --n 8 --out "$out/grid"
if [[ -x "$bin/ebm_evaluate" ]]; then
  "$bin/ebm_evaluate" --samples "$out/samples.idx" | tee "$out/evaluation.md"
fi

echo "== 4. inpainting"
"$bin/ebm_egc" inpaint --checkpoint "$ck" --mask center

echo "== 5. adversarial robustness"
"$bin/ebm_egc" attack --checkpoint "$ck" --baseline "$out/classifier/checkpoint.ebm" --n 500

echo "== done in $(( ($(date +%s) - start) / 60 )) min; pictures and numbers in $out/"
ls "$out"
