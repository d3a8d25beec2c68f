#!/usr/bin/env bash
# Paired side-by-side of the two figures the issues set targets for: the
# Langevin step (forward + input gradient) and one maximum-likelihood
# iteration (30 steps + update) of the CF-EBM 32x32 energy, one channel,
# batch 64, on N threads.  Each round runs ebm (bench_cfebm) and then PyTorch
# (torch_cfebm.py) on the same weights, never concurrently, and takes the
# ratio within the round; the machine's speed drifts by up to 10% over
# minutes (a shared VM), and a ratio of two runs seconds apart is steadier
# than a ratio of medians taken minutes apart.  Prints every round and the
# median, minimum and maximum of the ratios.
#
#   bench/compare_torch_paired.sh [BUILD_DIR] [ROUNDS] [THREADS]
#   (defaults: build/release, 7, 2)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
rounds=${2:-7}
threads=${3:-2}
EBM_WITH_TORCH=1 scripts/install-deps.sh >/dev/null
[[ -x $build/bench/bench_cfebm ]] || {
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEBM_BUILD_BENCHMARKS=ON &&
    cmake --build "$build" --target bench_cfebm
}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# The same allocator settings for both sides (PyTorch's best, compare_torch.sh).
export MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=10000000000 MALLOC_TOP_PAD_=1000000000
py=/usr/bin/python3
"$build/bench/bench_cfebm" --export "$out/w" --channels 1 >/dev/null
for r in $(seq 1 "$rounds"); do
  "$build/bench/bench_cfebm" \
    --benchmark_filter="BM_(forward_input_grad|ml_iteration)/ch:1/threads:$threads/" \
    --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    --benchmark_format=json > "$out/ebm$r.json"
  "$py" bench/torch_cfebm.py --weights "$out/w" --threads "$threads" --repeats 10 --json --ml > "$out/torch$r.json"
done
"$py" - "$out" "$rounds" "$threads" <<'PY'
import json, os, statistics, sys
out, rounds, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = {"step": [], "ml": []}
print("| round | ebm step ms | PyTorch step ms | ratio | ebm ML ms | PyTorch ML ms | ratio |")
print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in range(1, rounds + 1):
    ebm = {b["name"]: b["real_time"] for b in json.load(open(os.path.join(out, "ebm%d.json" % r)))["benchmarks"]
           if b["name"].endswith("_median")}
    tr = json.load(open(os.path.join(out, "torch%d.json" % r)))
    es = ebm["BM_forward_input_grad/ch:1/threads:%d/real_time_median" % threads]
    em = ebm["BM_ml_iteration/ch:1/threads:%d/real_time_median" % threads]
    ts, tm = tr["forward_input_grad_ms"], tr["ml_iteration_ms"]
    rows["step"].append(ts / es)
    rows["ml"].append(tm / em)
    print("| %d | %.1f | %.1f | %.2fx | %.1f | %.1f | %.2fx |" % (r, es, ts, ts / es, em, tm, tm / em))
print()
for key, label in (("step", "Langevin step (forward + input grad)"), ("ml", "ML iteration (30 steps + update)")):
    v = rows[key]
    print("%s, %d thread(s): speed-up median %.2fx (min %.2fx, max %.2fx over %d rounds)"
          % (label, threads, statistics.median(v), min(v), max(v), len(v)))
PY
