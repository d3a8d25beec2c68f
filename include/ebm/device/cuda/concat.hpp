#pragma once
// concat_kernels<cuda>: the strided copies of nn::concat_channels and
// nn::split_channels on the GPU.  Each sample's block of channels is one
// row of a pitched 2-D copy (cudaMemcpy2DAsync, device to device), so a
// concatenation or split is two copies whatever the batch size.
//
// Host API only (no kernels of its own).
#include <cstddef>

#include "../../core/config.hpp"
#include "../../nn/concat.hpp"
#include "device.hpp"
#include "error.hpp"

namespace ebm {

template <class D> struct concat_kernels;

template <>
struct concat_kernels<cuda> {
  /// dst[r * dst_stride + j] = src[r * src_stride + j] for r < rows, j < width
  /// (elements), on dev's stream.
  template <class T>
  static void copy_rows(const cuda& dev, const T* src, index_t src_stride, T* dst,
                        index_t dst_stride, index_t width, index_t rows) {
    EBM_REQUIRE(width >= 0 && rows >= 0 && src_stride >= width && dst_stride >= width,
                "concat_kernels<cuda>::copy_rows: bad strides (width ", width, ", source stride ",
                src_stride, ", destination stride ", dst_stride, ")");
    if (width == 0 || rows == 0) return;
    detail::cuda_device_guard g(dev.device());
    const std::size_t e = sizeof(T);
    EBM_CUDA_CHECK(cudaMemcpy2DAsync(dst, e * static_cast<std::size_t>(dst_stride), src,
                                     e * static_cast<std::size_t>(src_stride),
                                     e * static_cast<std::size_t>(width),
                                     static_cast<std::size_t>(rows), cudaMemcpyDeviceToDevice,
                                     dev.stream()));
  }
};

}  // namespace ebm
