#!/usr/bin/env bash
# Side-by-side: ebm's CF-EBM 32×32 energy (bench_cfebm) against the identical
# network in PyTorch (bench/torch_cfebm.py), one after the other in the same
# run, never concurrently, on 1 and 2 threads and 1 and 3 image channels.
# Also one maximum-likelihood iteration (30 Langevin steps + update, one
# channel).  Prints a markdown table of milliseconds per batch of 64, the
# speed-up, and both sides' rates as a share of the FMA peak that
# bench_peak measures.
#
#   bench/compare_torch.sh [BUILD_DIR]      (default build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
EBM_WITH_TORCH=1 scripts/install-deps.sh >/dev/null
[[ -x $build/bench/bench_cfebm && -x $build/bench/bench_peak ]] || {
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEBM_BUILD_BENCHMARKS=ON &&
    cmake --build "$build" --target bench_cfebm bench_peak
}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# PyTorch's best settings: glibc malloc keeps large blocks instead of mapping
# and unmapping them on every call.
export MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=10000000000 MALLOC_TOP_PAD_=1000000000
py=/usr/bin/python3
"$build/bench/bench_peak" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_format=json > "$out/peak.json"
for ch in 1 3; do
  "$build/bench/bench_cfebm" --export "$out/w$ch" --channels "$ch" >/dev/null
  "$build/bench/bench_cfebm" --benchmark_filter="/ch:$ch/" --benchmark_repetitions=5 \
    --benchmark_report_aggregates_only=true --benchmark_format=json > "$out/ebm$ch.json"
  ml=(); [[ $ch == 1 ]] && ml=(--ml)   # the ML iteration: one channel only
  for t in 1 2; do
    "$py" bench/torch_cfebm.py --weights "$out/w$ch" --threads "$t" --json "${ml[@]}" > "$out/torch$ch-$t.json"
  done
done
"$py" - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
peak = {}
for b in json.load(open(os.path.join(out, "peak.json")))["benchmarks"]:
    if b["name"].endswith("_median"):
        peak[int(b["name"].split("threads:")[1].split("_")[0])] = b["GFLOP/s"] / 1e9 if b["GFLOP/s"] > 1e6 else b["GFLOP/s"]
print("FMA peak measured by bench_peak: %s" % ", ".join("%.0f GFLOP/s on %d thread(s)" % (peak[t], t) for t in sorted(peak)))
print()
print("| pass | channels | threads | ebm ms | PyTorch ms | speed-up | ebm GFLOP/s | ebm % of peak | PyTorch % of peak |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
names = [("BM_forward", "forward_ms", "forward"),
         ("BM_forward_input_grad", "forward_input_grad_ms", "forward + input grad"),
         ("BM_forward_full_backward", "forward_full_backward_ms", "forward + full backward"),
         ("BM_ml_iteration", "ml_iteration_ms", "ML iteration (30 steps + update)")]
errs = []
for ch in (1, 3):
    ebm = json.load(open(os.path.join(out, "ebm%d.json" % ch)))["benchmarks"]
    for t in (1, 2):
        tr = json.load(open(os.path.join(out, "torch%d-%d.json" % (ch, t))))
        errs.append((ch, t, tr["max_rel_err_energy"], tr["max_rel_err_input_grad"], tr["torch"]))
        for bm, key, label in names:
            rows = [b for b in ebm if b["name"] == "%s/ch:%d/threads:%d/real_time_median" % (bm, ch, t)]
            if not rows or key not in tr:
                continue
            row = rows[0]
            e_ms = row["real_time"]
            rate = row["GFLOP/s"] / 1e9 if row["GFLOP/s"] > 1e6 else row["GFLOP/s"]
            print("| %s | %d | %d | %.1f | %.1f | %.2fx | %.0f | %.0f%% | %.0f%% |" % (
                label, ch, t, e_ms, tr[key], tr[key] / e_ms, rate, 100 * rate / peak[t],
                100 * rate * e_ms / tr[key] / peak[t]))
print()
for ch, t, ee, eg, v in errs:
    print("PyTorch %s, %d channel(s), %d thread(s): max relative difference to ebm: energy %.1e, input gradient %.1e" % (v, ch, t, ee, eg))
PY
