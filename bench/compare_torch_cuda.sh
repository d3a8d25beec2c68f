#!/usr/bin/env bash
# Side-by-side on the GPU: ebm's CUDA backend (bench/cuda_compare.cu) against
# PyTorch on the same GPU, one after the other, never concurrently:
#   - the CF-EBM energy's Langevin step (forward + input gradient; c = 32,
#     1 channel) at 32x32 and 64x64, batch 64 and 256: the identical network
#     (ebm exports its weights; PyTorch checks it reproduces ebm's energies
#     and input gradients before timing, with cuDNN autotuning on and TF32
#     off);
#   - 200 Langevin steps of 1024 chains on a 128-dimensional Gaussian
#     (ebm: one kernel launch; PyTorch: a loop of matmul + randn + update);
#   - the EGC UNet (c = 32, batch 64): a Fisher training step with exact
#     second derivatives (PyTorch: double backprop), a score evaluation and a
#     classification forward (PyTorch first checks on the CPU that it
#     reproduces ebm's outputs, bench_egc --export).
# Prints a markdown table of milliseconds and the speed-up, and the GPU.
#
#   bench/compare_torch_cuda.sh [BUILD_DIR]      (default build/cuda-bench)
#
# Needs the CUDA toolkit, cuDNN and a PyTorch with CUDA (python3 -c "import
# torch; print(torch.cuda.is_available())").  PYTHON overrides the
# interpreter (default python3 from PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/cuda-bench}
py=${PYTHON:-python3}
if [[ ! -x $build/bench/cuda_compare ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEBM_BUILD_TESTS=OFF -DEBM_BUILD_EXAMPLES=OFF \
    -DEBM_BUILD_BENCHMARKS=ON ${EBM_CMAKE_ARGS:-}
  cmake --build "$build" --target cuda_compare
fi
[[ -x $build/bench/bench_egc ]] || cmake --build "$build" --target bench_egc
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$build/bench/cuda_compare" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_format=json > "$out/ebm.json"
for res in 32 64; do
  for batch in 64 256; do
    "$build/bench/cuda_compare" --export "$out/w$res-$batch" --resolution "$res" --batch "$batch" >/dev/null
    (cd bench && "$py" torch_cfebm.py --weights "$out/w$res-$batch" --device cuda --repeats 50 --json) \
      > "$out/torch$res-$batch.json"
  done
done
(cd bench && "$py" torch_gaussian_chain.py --device cuda --json) > "$out/torch_gauss.json"
"$build/bench/bench_egc" --export "$out/egc" >/dev/null
(cd bench && "$py" torch_egc.py --weights "$out/egc" --device cuda --json) > "$out/torch_egc.json"
"$py" - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
ebm = json.load(open(os.path.join(out, "ebm.json")))["benchmarks"]
def median(name):
    return [b for b in ebm if b["name"] == name + "/manual_time_median"][0]["real_time"]
print("| case | ebm ms | PyTorch ms | speed-up |")
print("| --- | --- | --- | --- |")
errs = []
for res in (32, 64):
    for batch in (64, 256):
        tr = json.load(open(os.path.join(out, "torch%d-%d.json" % (res, batch))))
        e = median("BM_cfebm_langevin_step/res:%d/batch:%d" % (res, batch))
        t = tr["forward_input_grad_ms"]
        print("| CF-EBM Langevin step %dx%d, batch %d | %.3f | %.3f | %.2fx |" % (res, res, batch, e, t, t / e))
        errs.append((res, batch, tr["max_rel_err_energy"], tr["max_rel_err_input_grad"], tr["device"], tr["torch"]))
g = json.load(open(os.path.join(out, "torch_gauss.json")))
e = median("BM_gaussian_chain")
print("| Gaussian, 128 dims, 1024 chains, 200 steps | %.3f | %.3f | %.2fx |" % (e, g["chain_ms"], g["chain_ms"] / e))
te = json.load(open(os.path.join(out, "torch_egc.json")))
for bm, key, label in (("BM_egc_step", "step_ms", "EGC training step (Fisher, exact 2nd derivatives), batch 64"),
                       ("BM_egc_score", "score_ms", "EGC score (forward + input grad), batch 64"),
                       ("BM_egc_classify", "classify_ms", "EGC classify, batch 64")):
    e = median(bm)
    print("| %s | %.3f | %.3f | %.2fx |" % (label, e, te[key], te[key] / e))
for name in ("BM_cfebm_chain/graph:0", "BM_cfebm_chain/graph:1"):
    print("| ebm CF-EBM 32x32 chain, 30 steps, batch 64, %s | %.3f | | |" % ("graph" if name.endswith("1") else "eager", median(name)))
print()
for res, batch, ee, eg, dev, v in errs:
    print("PyTorch %s on %s, %dx%d batch %d: max relative difference to ebm: energy %.1e, input gradient %.1e" % (v, dev, res, res, batch, ee, eg))
PY
