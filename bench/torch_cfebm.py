#!/usr/bin/env python3
"""PyTorch side of the CF-EBM 32x32 comparison (bench/compare_torch.sh).

Rebuilds the network bench_cfebm exported (same layers, same weights), checks
that its energies and input gradients match ebm's, then times forward,
forward + input gradient and forward + full backward at the exported batch
size and resolution (bench_cfebm: 32x32, batch 64; cuda_compare --export: any).

    torch_cfebm.py --weights DIR --threads N [--repeats R] [--json] [--device cuda]

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
    print(json.dumps(res) if a.json else res)


if __name__ == "__main__":
    main()
