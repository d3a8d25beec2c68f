#pragma once
// The few tensor operations the pipelines (cf_ebm::model / trainer,
// egc::trainer) need on either device, written once: on ebm::cpu they are
// the host calls the pipelines always made (bit-identical results); on
// another device they call that device's overloads (device/cuda/*.hpp: fill
// by the device Philox, pooling and upsampling kernels, explicit transfers),
// found when the pipeline is instantiated for it.  Rare whole-tensor steps
// without a kernel of their own (a clamp at the end of a chain) go through
// the host.
#include <algorithm>
#include <type_traits>

#include "../../core/philox.hpp"
#include "../../core/tensor.hpp"
#include "../../nn/pool.hpp"
#include "../../nn/upsample.hpp"

namespace ebm::pipeline_detail {

template <class D>
inline constexpr bool on_host = std::is_same_v<D, cpu>;

/// An empty tensor bound to `dev` (device tensors allocate on its stream).
template <class T, class D>
tensor<T, D> empty_on(const D& dev) {
  if constexpr (on_host<D>) {
    (void)dev;
    return tensor<T, D>();
  } else {
    return tensor<T, D>(dev);
  }
}

/// x ~ U(lo, hi) elementwise; the same numbers on every device for one
/// generator state.
template <class T, class D>
void fill_uniform_on(tensor<T, D>& x, philox& rng, T lo, T hi) {
  if constexpr (on_host<D>)
    rng.fill_uniform<T>(x.span(), lo, hi);
  else
    fill_uniform(x, rng, lo, hi);
}

/// A host copy (the tensor itself on the host).
template <class T, class D>
tensor<T, cpu> host_copy(const tensor<T, D>& x) {
  if constexpr (on_host<D>)
    return x;
  else
    return to_host(x);
}

/// dst = src, src on the host.
template <class T, class D>
void assign_from_host(const tensor<T, cpu>& src, tensor<T, D>& dst) {
  if constexpr (on_host<D>) {
    dst = src;
  } else {
    dst.resize(src.shape());
    copy(src, dst);
  }
}

/// Every entry clamped to [lo, hi].
template <class T, class D>
void clamp_all(tensor<T, D>& x, T lo, T hi) {
  if constexpr (on_host<D>) {
    for (T& v : x) v = std::clamp(v, lo, hi);
  } else {
    tensor<T, cpu> h = to_host(x);
    for (T& v : h) v = std::clamp(v, lo, hi);
    copy(h, x);
  }
}

/// y = upsample2x(x) (y resized).
template <class T, class D>
void upsample_into(const tensor<T, D>& x, tensor<T, D>& y, nn::upsample_mode mode, const D& dev) {
  y.resize(nn::detail::upsampled_shape(x.shape()));
  nn::upsample2x<T>(x.view(), y.view(), mode, dev);
}
template <class T, class D>
tensor<T, D> upsampled(const tensor<T, D>& x, nn::upsample_mode mode, const D& dev) {
  tensor<T, D> y = empty_on<T>(dev);
  upsample_into(x, y, mode, dev);
  return y;
}

/// The 2x2 average-pooled copy of x.
template <class T, class D>
tensor<T, D> pooled(const tensor<T, D>& x, const D& dev) {
  tensor<T, D> y = empty_on<T>(dev);
  y.resize(nn::detail::pooled_shape(x.shape()));
  nn::avg_pool2x2<T>(x.view(), y.view(), dev);
  return y;
}

}  // namespace ebm::pipeline_detail
