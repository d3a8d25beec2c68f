#!/usr/bin/env python3
"""PyTorch side of the analytic-energy chain in the GPU comparison
(bench/compare_torch_cuda.sh; ebm's side is BM_gaussian_chain in
bench/cuda_compare.cu): 200 unadjusted Langevin steps (step 0.05, noise
variance 0.05) of 1024 chains on the 128-dimensional Gaussian with mean 0 and
tridiagonal precision (1 on the diagonal, -0.4 beside it),

    x <- x - (s / 2) (x - mu) P + sqrt(eta) N(0, I),

written the way a PyTorch user would: one matmul, one randn and the update
per step.

    torch_gaussian_chain.py [--device cuda] [--repeats R] [--json]
"""
import argparse
import json

import torch

from torch_common import median_time, setup_cuda


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    dev = torch.device(a.device)
    sync = setup_cuda() if a.device == "cuda" else None
    n, d, steps, s, eta = 1024, 128, 200, 0.05, 0.05
    P = torch.eye(d) + torch.diag(torch.full((d - 1,), -0.4), 1) + torch.diag(torch.full((d - 1,), -0.4), -1)
    P = P.to(dev)
    mu = torch.zeros(d, device=dev)
    g = torch.Generator(device=dev)
    g.manual_seed(11)
    x = torch.rand(n, d, device=dev, generator=g) * 2 - 1

    def chain():
        nonlocal x
        for _ in range(steps):
            x = x - (s / 2) * ((x - mu) @ P) + eta ** 0.5 * torch.randn(n, d, device=dev, generator=g)

    ms = 1e3 * median_time(chain, a.repeats, sync)
    res = {"device": torch.cuda.get_device_name() if a.device == "cuda" else "cpu", "torch": torch.__version__,
           "chains": n, "dim": d, "steps": steps, "chain_ms": ms}
    print(json.dumps(res) if a.json else res)


if __name__ == "__main__":
    main()
