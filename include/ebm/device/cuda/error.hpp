#pragma once
// Status codes of the CUDA runtime, cuBLAS and cuDNN as ebm::error
// exceptions naming the failed call, its file and line:
//
//   EBM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s));
//   EBM_CUBLAS_CHECK(cublasSgemm(...));
//   EBM_CUDNN_CHECK(cudnnConvolutionForward(...));
//   kernel<<<grid, block, 0, s>>>(...); EBM_CUDA_CHECK_LAUNCH();
//
// what() reads e.g. "CUDA error cudaErrorInvalidValue (invalid argument) in
// cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, s) [fn at file:line]".
// Host-API header: compiles with the ordinary C++ compiler in targets linked
// to ebm::cuda (which defines EBM_HAS_CUDA).  Device code never throws.
#if !defined(EBM_HAS_CUDA)
#error "ebm/device/cuda headers need the ebm::cuda CMake target (EBM_HAS_CUDA is not defined)"
#endif

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <source_location>
#include <string>

#include "../../core/error.hpp"

namespace ebm::detail {

[[noreturn]] inline void throw_cuda_error(cudaError_t e, const char* expr,
                                          std::source_location loc) {
  throw error(concat("CUDA error ", cudaGetErrorName(e), " (", cudaGetErrorString(e), ") in ",
                     expr),
              loc);
}

inline void cuda_check(cudaError_t e, const char* expr,
                       std::source_location loc = std::source_location::current()) {
  if (e != cudaSuccess) [[unlikely]]
    throw_cuda_error(e, expr, loc);
}

inline void cublas_check(cublasStatus_t s, const char* expr,
                         std::source_location loc = std::source_location::current()) {
  if (s != CUBLAS_STATUS_SUCCESS) [[unlikely]]
    throw error(concat("cuBLAS error ", cublasGetStatusName(s), " (", cublasGetStatusString(s),
                       ") in ", expr),
                loc);
}

inline void cudnn_check(cudnnStatus_t s, const char* expr,
                        std::source_location loc = std::source_location::current()) {
  if (s != CUDNN_STATUS_SUCCESS) [[unlikely]]
    throw error(concat("cuDNN error ", static_cast<int>(s), " (", cudnnGetErrorString(s),
                       ") in ", expr),
                loc);
}

}  // namespace ebm::detail

/// Throws ebm::error when a CUDA runtime call does not return cudaSuccess.
#define EBM_CUDA_CHECK(call) \
  ::ebm::detail::cuda_check((call), #call, std::source_location::current())
/// Throws ebm::error when a cuBLAS call does not return CUBLAS_STATUS_SUCCESS.
#define EBM_CUBLAS_CHECK(call) \
  ::ebm::detail::cublas_check((call), #call, std::source_location::current())
/// Throws ebm::error when a cuDNN call does not return CUDNN_STATUS_SUCCESS.
#define EBM_CUDNN_CHECK(call) \
  ::ebm::detail::cudnn_check((call), #call, std::source_location::current())
/// Throws ebm::error when the preceding kernel launch failed (bad
/// configuration, no kernel image for this GPU, ...).  Errors raised while
/// the kernel runs surface at the next synchronising call.
#define EBM_CUDA_CHECK_LAUNCH()                                                   \
  ::ebm::detail::cuda_check(cudaGetLastError(), "kernel launch (cudaGetLastError)", \
                            std::source_location::current())
