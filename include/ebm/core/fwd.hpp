#pragma once
// Forward declarations of ebm's vocabulary types.  Includes nothing heavy.
#include "config.hpp"

namespace ebm {
struct cpu;   // device policy: host memory, Eigen kernels, a thread pool
struct cuda;  // device policy: device memory, cuDNN/cuBLAS (ebm::cuda target)

class shape;
template <class T, class Device = cpu> class tensor;
class philox;

/// Device kernels of the samplers, optimizers and objectives, specialised per
/// accelerator (device/cuda/training.hpp); the host path is written inline.
template <class D> struct training_kernels;
}  // namespace ebm
