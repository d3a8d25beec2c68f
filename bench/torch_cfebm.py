#!/usr/bin/env python3
"""PyTorch side of the CF-EBM 32x32 comparison (bench/compare_torch.sh).

Rebuilds the network bench_cfebm exported (same layers, same weights), checks
that its energies and input gradients match ebm's, then times forward,
forward + input gradient and forward + full backward at the exported batch
size and resolution (bench_cfebm: 32x32, batch 64; cuda_compare --export: any).
With --ml it also times one maximum-likelihood iteration as bench_cfebm's
BM_ml_iteration runs it: chains from uniform noise, 30 Langevin steps
x <- clamp(x - grad E / 2 + sqrt(eta_t) noise) with CF-EBM's decaying eta_t,
then mean E(data) - mean E(samples), its backward and one Adam step
(beta1 = 0.5).

    torch_cfebm.py --weights DIR --threads N [--repeats R] [--json] [--device cuda] [--ml]

With --device cuda the network and batch live on the GPU (cuDNN autotuning
on, TF32 off so both sides compute in float), and every timing waits for the
GPU.
"""
import argparse
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_common import load, median_time, setup_cuda


class Conv(nn.Module):
    def __init__(self, d, name, stride=1, padding=0, act=True):
        super().__init__()
        w = load(d, name + ".weight")
        self.conv = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], stride, padding)
        with torch.no_grad():
            self.conv.weight.copy_(w)
            self.conv.bias.copy_(load(d, name + ".bias"))
        self.act = act

    def forward(self, x):
        y = self.conv(x)
        return F.silu(y) if self.act else y


class Primal(nn.Module):
    def __init__(self, d, l):
        super().__init__()
        p = "primal%d" % l
        self.c1 = Conv(d, p + ".main.0", 1, 1)
        self.c2 = Conv(d, p + ".main.1", 2, 1)
        self.skip = Conv(d, p + ".skip.1", 1, 0, act=False)

    def forward(self, x):
        return self.c2(self.c1(x)) + self.skip(F.avg_pool2d(x, 2))


class CFEBM(nn.Module):
    def __init__(self, d, levels):
        super().__init__()
        top = levels - 1
        self.from_rgb = Conv(d, "from_rgb%d" % top)
        self.primals = nn.ModuleList([Primal(d, l) for l in range(top, 0, -1)])
        self.t0 = Conv(d, "top.0", 1, 1)
        self.t1 = Conv(d, "top.1", 1, 0)
        w = load(d, "top.3.weight")
        self.head = nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            self.head.weight.copy_(w)
            self.head.bias.copy_(load(d, "top.3.bias"))

    def forward(self, x):
        h = self.from_rgb(x)
        for p in self.primals:
            h = p(h)
        h = self.t1(self.t0(h))
        return self.head(h.flatten(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--ml", action="store_true", help="also time one maximum-likelihood iteration")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    sync = None
    if a.device == "cuda":
        sync = setup_cuda()
    levels = 1 + sum(1 for f in os.listdir(a.weights) if f.startswith("primal") and f.endswith("main.0.weight.npy"))
    net = CFEBM(a.weights, levels).to(dev)
    x = load(a.weights, "input").to(dev)
    ref_e = load(a.weights, "energy").reshape(-1).to(dev)
    ref_g = load(a.weights, "input_grad").to(dev)

    xr = x.clone().requires_grad_(True)
    e = net(xr).reshape(-1)
    (g,) = torch.autograd.grad(e.sum(), xr)
    err_e = ((e.detach() - ref_e).abs().max() / ref_e.abs().max()).item()
    err_g = ((g - ref_g).abs().max() / ref_g.abs().max()).item()

    def fwd():
        with torch.no_grad():
            net(x)

    def fwd_input_grad():
        xg = x.detach().requires_grad_(True)
        torch.autograd.grad(net(xg).sum(), xg)

    def fwd_full():
        net.zero_grad(set_to_none=False)
        xg = x.detach().requires_grad_(True)
        net(xg).sum().backward()

    ml_steps = 30
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.999))
    gen = torch.Generator(device=dev).manual_seed(4)
    data = torch.rand(x.shape, generator=gen, device=dev) * 2 - 1

    def ml_iteration():
        s = torch.rand(x.shape, generator=gen, device=dev) * 2 - 1
        for t in range(1, ml_steps + 1):
            s.requires_grad_(True)
            (g,) = torch.autograd.grad(net(s).sum(), s)
            eta = 2e-2 - 2e-2 / (ml_steps - t + 1)
            with torch.no_grad():
                s = (s - 0.5 * g + eta ** 0.5 * torch.randn(x.shape, generator=gen, device=dev)).clamp_(-1, 1)
        opt.zero_grad(set_to_none=False)
        loss = net(data).mean() - net(s.detach()).mean()
        loss.backward()
        opt.step()

    res = {
        "threads": a.threads,
        "device": torch.cuda.get_device_name() if a.device == "cuda" else "cpu",
        "batch": int(x.shape[0]),
        "resolution": int(x.shape[2]),
        "channels": int(x.shape[1]),
        "torch": torch.__version__,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "max_rel_err_energy": err_e,
        "max_rel_err_input_grad": err_g,
        "forward_ms": 1e3 * median_time(fwd, a.repeats, sync),
        "forward_input_grad_ms": 1e3 * median_time(fwd_input_grad, a.repeats, sync),
        "forward_full_backward_ms": 1e3 * median_time(fwd_full, a.repeats, sync),
    }
    if a.ml:  # last: the Adam steps change the weights
        res["ml_iteration_ms"] = 1e3 * median_time(ml_iteration, max(3, a.repeats // 4), sync)
    print(json.dumps(res) if a.json else res)


if __name__ == "__main__":
    main()
