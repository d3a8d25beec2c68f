#pragma once
// The host-API part of ebm's CUDA backend: the device policy, device tensors
// and transfers, error checks, cuBLAS GEMM, cuDNN convolution set-up, CUDA
// graphs, and the declarations of every kernel-backed function.  Compiles
// with the ordinary C++ compiler in targets linked to ebm::cuda; .cu files
// include ebm/device/cuda/cuda.cuh instead, which adds the kernels.
#include "attention_pool.hpp"
#include "blas.hpp"
#include "concat.hpp"
#include "conv.hpp"
#include "device.hpp"
#include "diffusion.hpp"
#include "elementwise.hpp"
#include "embedding.hpp"
#include "error.hpp"
#include "graph.hpp"
#include "group_norm.hpp"
#include "langevin.hpp"
#include "logsumexp.hpp"
#include "random.hpp"
#include "spatial.hpp"
#include "spectral.hpp"
#include "tensor.hpp"
#include "training.hpp"
