#!/usr/bin/env python3
"""PyTorch side of the EGC comparison (bench/compare_torch_egc.sh).

Rebuilds the EGC UNet that `bench_egc --export DIR` wrote (same layout as
include/ebm/energy/egc.hpp, same parameter names, same weights), checks that it
computes the identical function as ebm -- energies and input gradient at x_t,
the EGC loss and the full parameter gradient of the training step, the class
logits at t = 0 -- then times, at batch 64 on the given number of threads:

  step      one EGC training step the PyTorch way: zero_grad, x_t, forward,
            torch.autograd.grad(E.sum(), x_t, create_graph=True), the loss
            (Fisher + smoothed, sqrt(alpha_bar)-weighted cross-entropy),
            loss.backward() (double backprop); no optimizer
  score     one reverse-diffusion score evaluation: forward + input gradient
            (parameters frozen: PyTorch's best case)
  classify  classification forward at t = 0 under torch.no_grad()

    torch_egc.py --weights DIR --threads N [--repeats R] [--json]
                 [--channels-last] [--passes] [--check-only] [--float64]
                 [--device cuda]

With --device cuda the check still runs on the CPU (against ebm's CPU
export); the timed network and batch then move to the GPU (cuDNN autotuning
on, TF32 off), and every timing waits for the GPU.

Exits with an error, before any timing, when PyTorch's float results differ
from ebm's by more than --tolerance (max |a - b| / max |b|, default 1e-4).
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_common import load, median_time, setup_cuda


def sinusoidal(t, dim, max_period=10000.0):
    """nn/embedding.hpp: cat(cos(t f_k), sin(t f_k)), f_k = exp(-ln(P) k / half),
    computed in double and rounded once, as ebm does."""
    half = dim // 2
    k = torch.arange(half, dtype=torch.float64, device=t.device)
    arg = t.to(torch.float64)[:, None] * torch.exp(-math.log(max_period) * k / half)[None, :]
    return torch.cat([torch.cos(arg), torch.sin(arg)], dim=1)


class ResBlock(nn.Module):
    """egc::res_block: x' + conv2(SiLU(GN(conv1(SiLU(GN(x))) + emb(s))))."""

    def __init__(self, cin, cout, emb, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=1e-5)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=1e-5)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, s):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(s)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (self.skip(x) if self.skip is not None else x)


class EGCNet(nn.Module):
    """egc::network: the per-pixel class logits f(x, t); module names equal
    ebm's visit_params names, so the exported weights load with strict=True."""

    def __init__(self, cfg):
        super().__init__()
        c, mult, G = cfg["channels"], cfg["multipliers"], cfg["groups"]
        E = 4 * c
        width = [c * m for m in mult]
        L = len(mult)
        self.cfg, self.c = cfg, c
        self.time = nn.Sequential(nn.Linear(c, E), nn.SiLU(), nn.Linear(E, E))
        self.conv_in = nn.Conv2d(cfg["image_channels"], width[0], 3, padding=1)
        blocks = []
        skip_w = [width[0]]
        ch = width[0]
        self.enc, self.dec = [], []
        for l in range(L):
            for _ in range(cfg["res_blocks"]):
                self.enc.append(("block", len(blocks)))
                blocks.append((ch, width[l]))
                ch = width[l]
                skip_w.append(ch)
            if l + 1 < L:
                self.enc.append(("pool", None))
                skip_w.append(ch)
        self.middle = len(blocks)
        blocks.append((ch, ch))
        if cfg["unet"]:
            for l in range(L - 1, -1, -1):
                for _ in range(cfg["res_blocks"] + 1):
                    sw = skip_w.pop()
                    self.dec.append(("block", len(blocks)))
                    blocks.append((ch + sw, width[l]))
                    ch = width[l]
                if l > 0:
                    self.dec.append(("up", None))
        for i, (cin, cout) in enumerate(blocks):
            self.add_module("block%d" % i, ResBlock(cin, cout, E, G))
        self.nblocks = len(blocks)
        self.out_norm = nn.GroupNorm(G, ch, eps=1e-5)
        self.out_conv = nn.Conv2d(ch, cfg["classes"], 3, padding=1)

    def block(self, i):
        return getattr(self, "block%d" % i)

    def forward(self, x, t):
        temb = self.time(sinusoidal(t, self.c).to(x.dtype))
        s = F.silu(temb)
        h = self.conv_in(x)
        skips = [h]
        for kind, i in self.enc:
            h = F.avg_pool2d(h, 2) if kind == "pool" else self.block(i)(h, s)
            skips.append(h)
        h = self.block(self.middle)(h, s)
        for kind, i in self.dec:
            if kind == "up":
                h = F.interpolate(h, scale_factor=2, mode="nearest")
            else:
                h = self.block(i)(torch.cat([h, skips.pop()], dim=1), s)
        return self.out_conv(F.silu(self.out_norm(h)))


def energy(f):
    """nn::logsumexp_energy: E = -sum_pixels logsumexp_k f[k], shape [N]."""
    return -torch.logsumexp(f, dim=1).flatten(1).sum(dim=1)


def attention_pool(f):
    """nn::attention_pool: q = mean_s F_s, a = softmax_s(<q, F_s>/sqrt(C)),
    z = sum_s a_s F_s."""
    Fs = f.flatten(2)  # [N, C, S]
    q = Fs.mean(dim=2)
    e = torch.einsum("nc,ncs->ns", q, Fs) / math.sqrt(Fs.shape[1])
    a = torch.softmax(e, dim=1)
    return torch.einsum("ns,ncs->nc", a, Fs)


class Step:
    """The EGC loss of objective/egc.hpp (fisher_target::noise_unscaled,
    mean over features, sqrt(alpha_bar)-weighted smoothed CE over the labelled
    samples divided by the batch size)."""

    def __init__(self, cfg, x0, eps, t, labels, dtype):
        steps = cfg["steps"]
        # noise_schedule::linear(steps), in double as ebm computes it.
        scale = 1000.0 / steps
        b0, b1 = scale * 1e-4, scale * 0.02
        beta = torch.tensor([b0 if steps == 1 else b0 + (b1 - b0) * i / (steps - 1) for i in range(steps)],
                            dtype=torch.float64)
        abar = torch.cumprod(1.0 - beta, dim=0)
        ti = t.long()
        # ebm rounds sqrt(alpha_bar) and sigma to the scalar type first.
        self.c0 = torch.sqrt(abar[ti]).to(dtype)
        self.sigma = torch.sqrt(1.0 - abar[ti]).to(dtype)
        self.x0, self.eps, self.t = x0.to(dtype), eps.to(dtype), t.to(dtype)
        self.y = labels.long()
        self.mask = (self.y >= 0).to(dtype)
        self.yc = self.y.clamp(min=0)
        self.gamma, self.smooth = cfg["gamma"], cfg["label_smoothing"]

    def noised(self):
        return self.c0[:, None, None, None] * self.x0 + self.sigma[:, None, None, None] * self.eps

    def loss(self, net, xt, create_graph=True):
        f = net(xt, self.t)
        E = energy(f)
        (g,) = torch.autograd.grad(E.sum(), xt, create_graph=create_graph)
        fisher = ((g - self.eps) ** 2).mean()
        ce_i = F.cross_entropy(attention_pool(f), self.yc, label_smoothing=self.smooth, reduction="none")
        ce = (self.c0 * self.mask * ce_i).sum() / xt.shape[0]
        return fisher + self.gamma * ce, fisher, ce, E, g

    def to(self, device):
        for k in ("c0", "sigma", "x0", "eps", "t", "y", "mask", "yc"):
            setattr(self, k, getattr(self, k).to(device))
        return self

    def __call__(self, net, memory_format=torch.contiguous_format):
        net.zero_grad(set_to_none=False)
        xt = self.noised().contiguous(memory_format=memory_format).requires_grad_(True)
        loss = self.loss(net, xt)[0]
        loss.backward()
        return loss


def rel(a, b):
    """max |a - b| / max |b| (the CF-EBM comparison's measure)."""
    a, b = a.detach().double(), b.detach().double()
    return ((a - b).abs().max() / b.abs().max().clamp(min=1e-30)).item()


def build(d, dtype):
    cfg = json.load(open(os.path.join(d, "config.json")))
    net = EGCNet(cfg)
    names = [n.strip() for n in open(os.path.join(d, "param_names.txt")) if n.strip()]
    state = {n: load(os.path.join(d, "params"), n) for n in names}
    net.load_state_dict(state, strict=True)  # same names, same shapes, nothing missing
    assert [n for n, _ in net.named_parameters()] == names, "parameter order differs from ebm's visit_params"
    return cfg, net.to(dtype), names


def verify(d, dtype):
    """Runs the exported step in `dtype`; returns the outputs and the gradients."""
    cfg, net, names = build(d, dtype)
    step = Step(cfg, load(d, "x0"), load(d, "eps"), load(d, "t"), load(d, "labels"), dtype)
    net.zero_grad(set_to_none=False)
    xt = step.noised().requires_grad_(True)
    loss, fisher, ce, E, g = step.loss(net, xt)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in net.named_parameters()}
    with torch.no_grad():
        z0 = attention_pool(net(step.x0, torch.zeros_like(step.t)))
    return dict(xt=xt.detach(), E=E.detach(), g=g.detach(), loss=loss.detach(), fisher=fisher.detach(),
                ce=ce.detach(), z0=z0, grads=grads), cfg, net, step, names


def compare(d, out, names):
    ref = {"xt": load(d, "xt"), "E": load(d, "energy").reshape(-1), "g": load(d, "input_grad"),
           "loss": load(d, "loss")[0], "z0": load(d, "logits_t0")}
    errs = {"x_t": rel(out["xt"], ref["xt"]), "energy": rel(out["E"], ref["E"]),
            "input_grad": rel(out["g"], ref["g"]), "loss": rel(out["loss"], ref["loss"]),
            "logits_t0": rel(out["z0"], ref["z0"])}
    worst, worst_name, num, den = 0.0, "", 0.0, 0.0
    for n in names:
        r = load(os.path.join(d, "grads"), n)
        e = rel(out["grads"][n], r)
        if e > worst:
            worst, worst_name = e, n
        num = max(num, (out["grads"][n].double() - r.double()).abs().max().item())
        den = max(den, r.double().abs().max().item())
    errs["param_grad_worst_tensor"] = worst
    errs["param_grad_worst_name"] = worst_name
    errs["param_grad_global"] = num / den
    return errs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--channels-last", action="store_true", help="run the timed passes in channels_last")
    ap.add_argument("--passes", action="store_true", help="also time the step's passes separately")
    ap.add_argument("--check-only", action="store_true")
    ap.add_argument("--float64", action="store_true", help="also compare both float results with a float64 run")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="max relative difference accepted (float)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the timed passes run")
    a = ap.parse_args()
    if a.passes and a.device == "cuda":
        raise SystemExit("torch_egc.py: --passes times the CPU passes only")
    torch.set_num_threads(a.threads)
    d = a.weights

    # Verification: float (the timed precision) against ebm's float reference
    # and, with --float64, both against a float64 run of the same function.
    out32, cfg, net, step, names = verify(d, torch.float32)
    errs = compare(d, out32, names)
    errs_vs64 = None
    if a.float64:
        out64 = verify(d, torch.float64)[0]
        errs_vs64 = {"ebm": compare(d, out64, names),
                     "torch": {"energy": rel(out32["E"], out64["E"]), "input_grad": rel(out32["g"], out64["g"]),
                               "loss": rel(out32["loss"], out64["loss"]),
                               "logits_t0": rel(out32["z0"], out64["z0"]),
                               "param_grad_global": grad_global(out32["grads"], out64["grads"], names)}}
    loss_parts = load(d, "loss")
    ok = all(errs[k] <= a.tolerance
             for k in ("energy", "input_grad", "loss", "logits_t0", "param_grad_global", "param_grad_worst_tensor"))
    res = {
        "threads": a.threads,
        "torch": torch.__version__,
        "mkldnn": torch.backends.mkldnn.is_available(),
        "channels_last": a.channels_last,
        "params": sum(p.numel() for p in net.parameters()),
        "loss_ebm": [float(v) for v in loss_parts],
        "loss_torch": [out32["loss"].item(), out32["fisher"].item(), out32["ce"].item()],
        "max_rel_err": errs,
        # ebm's float reference and PyTorch's float run against PyTorch in float64
        "max_rel_err_vs_float64": errs_vs64,
        "verified": ok,
    }
    if not ok:
        print(json.dumps(res, indent=1), file=sys.stderr)
        raise SystemExit("torch_egc.py: PyTorch does not reproduce ebm's outputs within %g" % a.tolerance)
    if a.check_only:
        print(json.dumps(res) if a.json else json.dumps(res, indent=1))
        return

    sync = None
    if a.device == "cuda":
        sync = setup_cuda()
        net = net.cuda()
        step = step.to("cuda")
        res["device"] = torch.cuda.get_device_name()
    mf = torch.channels_last if a.channels_last else torch.contiguous_format
    net = net.to(memory_format=mf)
    n = step.x0.shape[0]
    xt = step.noised().contiguous(memory_format=mf)
    x0 = step.x0.contiguous(memory_format=mf)
    t0 = torch.zeros_like(step.t)
    t_score = step.t  # bench_egc's score case: x_t at the training step's timesteps (as verified)

    def train_step():
        step(net, mf)

    def score():
        xg = xt.detach().requires_grad_(True)
        torch.autograd.grad(energy(net(xg, t_score)).sum(), xg)

    def classify():
        with torch.no_grad():
            attention_pool(net(x0, t0))

    ms = {"step_ms": 1e3 * median_time(train_step, a.repeats, sync)}
    for p in net.parameters():
        p.requires_grad_(False)
    ms["score_ms"] = 1e3 * median_time(score, a.repeats, sync)
    ms["classify_ms"] = 1e3 * median_time(classify, a.repeats, sync)
    for p in net.parameters():
        p.requires_grad_(True)
    res.update(ms)
    res.update({k.replace("_ms", "_img_per_s"): n / (v / 1e3) for k, v in ms.items()})
    if a.passes:
        res["passes_ms"] = time_passes(net, step, mf, a.repeats)
    print(json.dumps(res) if a.json else json.dumps(res, indent=1))


def grad_global(a, b, names):
    num = max((a[n].double() - b[n].double()).abs().max().item() for n in names)
    den = max(b[n].double().abs().max().item() for n in names)
    return num / den


def time_passes(net, step, mf, repeats):
    """The PyTorch step split the way autograd runs it: forward, the
    create_graph input gradient, the loss, and the double backward."""
    parts = {"forward": [], "input_grad (create_graph)": [], "loss": [], "double backward": []}
    for r in range(repeats + 2):
        net.zero_grad(set_to_none=False)
        xt = step.noised().contiguous(memory_format=mf).requires_grad_(True)
        t0 = time.perf_counter()
        f = net(xt, step.t)
        E = energy(f)
        t1 = time.perf_counter()
        (g,) = torch.autograd.grad(E.sum(), xt, create_graph=True)
        t2 = time.perf_counter()
        fisher = ((g - step.eps) ** 2).mean()
        ce_i = F.cross_entropy(attention_pool(f), step.yc, label_smoothing=step.smooth, reduction="none")
        loss = fisher + step.gamma * (step.c0 * step.mask * ce_i).sum() / xt.shape[0]
        t3 = time.perf_counter()
        loss.backward()
        t4 = time.perf_counter()
        if r >= 2:
            for k, v in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                parts[k].append(1e3 * v)
    return {k: sorted(v)[len(v) // 2] for k, v in parts.items()}


if __name__ == "__main__":
    main()
