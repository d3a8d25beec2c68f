#pragma once
// Forward declarations of ebm's vocabulary types.  Includes nothing heavy.
#include "config.hpp"

namespace ebm {
struct cpu;   // device policy: host memory, Eigen kernels, a thread pool
struct cuda;  // device policy: device memory, cuDNN/cuBLAS (ebm::cuda target)

class shape;
template <class T, class Device = cpu> class tensor;
class philox;
}  // namespace ebm
