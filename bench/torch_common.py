"""Helpers shared by the PyTorch side of the side-by-side benchmarks
(torch_cfebm.py, torch_egc.py): loading ebm's exported .npy arrays and
timing a call."""
import os
import time

import numpy as np
import torch


def load(d, name):
    """The array ebm exported as d/name.npy, as a tensor."""
    return torch.from_numpy(np.load(os.path.join(d, name + ".npy")))


def median_time(fn, repeats, sync=None):
    """Median wall time of fn() in seconds over `repeats` calls, after two
    warm-up calls (allocator, oneDNN primitive cache, cuDNN autotuning).
    sync (e.g. torch.cuda.synchronize) waits for queued GPU work before each
    clock reading."""
    sync = sync or (lambda: None)
    fn()
    fn()
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def setup_cuda():
    """The GPU settings of the comparisons: cuDNN autotuning on, TF32 off (ebm
    computes in IEEE float); returns the synchronisation timings need."""
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return torch.cuda.synchronize
