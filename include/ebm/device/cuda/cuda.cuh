#pragma once
// ebm's CUDA backend, kernels included: everything of cuda.hpp plus the
// definitions of the kernel-backed functions.  Include from .cu files; the
// layers of ebm/nn then work with D = ebm::cuda (see docs/cuda.md for the
// layers that still need device paths).
#include "cuda.hpp"

#include "blas.cuh"
#include "conv.cuh"
#include "elementwise.cuh"
#include "langevin.cuh"
#include "random.cuh"
#include "spatial.cuh"
#include "spectral.cuh"
#include "tensor.cuh"
