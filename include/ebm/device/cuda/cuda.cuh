#pragma once
// ebm's CUDA backend, kernels included: everything of cuda.hpp plus the
// definitions of the kernel-backed functions.  Include from .cu files; the
// layers of ebm/nn then work with D = ebm::cuda (see docs/cuda.md for what
// still runs on the host only).
#include "cuda.hpp"

#include "attention_pool.cuh"
#include "blas.cuh"
#include "conv.cuh"
#include "diffusion.cuh"
#include "elementwise.cuh"
#include "embedding.cuh"
#include "group_norm.cuh"
#include "langevin.cuh"
#include "logsumexp.cuh"
#include "random.cuh"
#include "spatial.cuh"
#include "spectral.cuh"
#include "tensor.cuh"
#include "training.cuh"
