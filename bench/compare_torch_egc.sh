#!/usr/bin/env bash
# Side-by-side: one EGC training step with exact second derivatives in ebm
# (bench_egc: forward, input gradient, forward-over-reverse tangent pass)
# against PyTorch's double backprop of the identical network
# (bench/torch_egc.py: forward, autograd.grad(create_graph=True),
# loss.backward()), plus the score step and the classification forward.
# Batch 64, 32×32, 1 channel, 10 classes, c = 32, multipliers {1, 2, 2}.
#
# bench_egc --export writes ebm's weights, batch, timesteps, noise, labels
# and reference outputs; PyTorch must reproduce them (max relative
# difference <= 1e-4 in float) before anything is timed.  The two sides run
# one after the other, never concurrently, on 1 and then 2 threads; each ebm
# thread count runs in its own process with EBM_NUM_THREADS set to it (so
# nothing runs on a default pool of another size).
#
#   bench/compare_torch_egc.sh [BUILD_DIR]      (default build/release)
#
# Environment: EBM_BENCH_REPS (ebm repetitions, default 5), TORCH_REPEATS
# (PyTorch timed calls, default 10), EBM_EGC_OUT (keep the JSON results and
# the exported reference there instead of a temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
py=/usr/bin/python3
reps=${EBM_BENCH_REPS:-5}
torch_repeats=${TORCH_REPEATS:-10}

die() { echo "compare_torch_egc.sh: $*" >&2; exit 1; }
[[ -x $py ]] || die "$py not found (Debian package python3)"
"$py" -c 'import numpy' 2>/dev/null ||
  die "NumPy is missing: install the Debian package python3-numpy (or run EBM_WITH_TORCH=1 scripts/install-deps.sh as root)"
"$py" -c 'import torch' 2>/dev/null ||
  die "PyTorch is missing: install the Debian package python3-torch (or run EBM_WITH_TORCH=1 scripts/install-deps.sh as root)"

# Build (or bring up to date) only the bench_egc target.
if [[ ! -f $build/CMakeCache.txt ]]; then
  echo "configuring a Release build in $build" >&2
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEBM_BUILD_BENCHMARKS=ON \
    -DEBM_BUILD_TESTS=OFF -DEBM_BUILD_EXAMPLES=OFF >/dev/null
fi
grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$build/CMakeCache.txt" ||
  echo "compare_torch_egc.sh: warning: $build is not a Release build; the figures will not mean much" >&2
grep -q '^EBM_BUILD_BENCHMARKS:BOOL=ON$' "$build/CMakeCache.txt" ||
  die "$build was configured with EBM_BUILD_BENCHMARKS=OFF; reconfigure it with -DEBM_BUILD_BENCHMARKS=ON or give another build directory"
cmake --build "$build" --target bench_egc >/dev/null || die "building bench_egc in $build failed"
bench=$build/bench/bench_egc
[[ -x $bench ]] || die "$bench was not built"

if [[ -n ${EBM_EGC_OUT:-} ]]; then
  out=$EBM_EGC_OUT
  mkdir -p "$out"
else
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  trap 'exit 130' INT TERM  # so that the EXIT trap cleans up when interrupted
fi
# PyTorch's best settings (and the CF-EBM comparison's): glibc malloc keeps
# large blocks instead of mapping and unmapping them on every call.
export MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=10000000000 MALLOC_TOP_PAD_=1000000000

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
"$bench" --export "$out/ref" >&2
# Verification (float against ebm, and both against float64), once.
"$py" bench/torch_egc.py --weights "$out/ref" --threads 2 --check-only --float64 --json > "$out/check.json" ||
  die "PyTorch does not reproduce ebm's outputs (see above); nothing timed"
for t in 1 2; do
  EBM_NUM_THREADS=$t "$bench" --benchmark_filter="/threads:$t/" --benchmark_repetitions="$reps" \
    --benchmark_report_aggregates_only=true --benchmark_format=json > "$out/ebm$t.json"
  # torch_egc.py verifies again (float) before it times.
  "$py" bench/torch_egc.py --weights "$out/ref" --threads "$t" --repeats "$torch_repeats" --json > "$out/torch$t.json"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

"$py" - "$out" "$load_before" "$load_after" <<'PY'
import json, os, sys
out, before, after = sys.argv[1:4]
print("| pass | threads | ebm ms | ebm img/s | PyTorch ms | PyTorch img/s | ebm speed-up |")
print("| --- | --- | --- | --- | --- | --- | --- |")
names = [("BM_egc_step", "step_ms", "training step (Fisher, exact 2nd derivatives)"),
         ("BM_egc_score", "score_ms", "score (forward + input grad)"),
         ("BM_egc_classify", "classify_ms", "classify (forward, t = 0)")]
versions = set()
for bm, key, label in names:
    for t in (1, 2):
        ebm = json.load(open(os.path.join(out, "ebm%d.json" % t)))["benchmarks"]
        tr = json.load(open(os.path.join(out, "torch%d.json" % t)))
        versions.add(tr["torch"])
        # The median aggregate when repeated, else the single run.
        rows = [b for b in ebm if b["name"].startswith("%s/threads:%d/" % (bm, t))]
        rows = [b for b in rows if b.get("aggregate_name") == "median"] or rows
        if len(rows) != 1:
            sys.exit("compare_torch_egc.sh: no unique ebm result for %s on %d thread(s)" % (bm, t))
        row = rows[0]
        e_ms = row["real_time"] * {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[row["time_unit"]]
        n = 64
        print("| %s | %d | %.1f | %.0f | %.1f | %.0f | %.2fx |" % (
            label, t, e_ms, n / (e_ms / 1e3), tr[key], n / (tr[key] / 1e3), tr[key] / e_ms))
print()
chk = json.load(open(os.path.join(out, "check.json")))
e, v = chk["max_rel_err"], chk["max_rel_err_vs_float64"]
print("PyTorch %s (oneDNN %s) reproduces ebm's float results; max relative difference (max |a-b| / max |b|):"
      % (", ".join(sorted(versions)), "on" if chk["mkldnn"] else "off"))
print("  energy %.1e, input gradient %.1e, loss %.1e, logits at t = 0 %.1e, parameter gradient %.1e"
      " (worst single tensor %.1e, %s)" % (e["energy"], e["input_grad"], e["loss"], e["logits_t0"],
      e["param_grad_global"], e["param_grad_worst_tensor"], e["param_grad_worst_name"]))
for side in ("ebm", "torch"):
    s = v[side]
    print("  %s float vs float64: energy %.1e, input gradient %.1e, loss %.1e, parameter gradient %.1e"
          % ("ebm    " if side == "ebm" else "PyTorch", s["energy"], s["input_grad"], s["loss"], s["param_grad_global"]))
print("loss: ebm %.7f, PyTorch %.7f" % (chk["loss_ebm"][0], chk["loss_torch"][0]))
print("load average before: %s, after: %s" % (before, after))
PY
