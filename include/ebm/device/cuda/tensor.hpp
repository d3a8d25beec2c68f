#pragma once
// tensor<T, cuda>: an owning tensor in GPU memory, and explicit transfers.
//
// Same interface as tensor<T, cpu> where it makes sense: shape(), rank(),
// size(), extent(), empty(), data() (a device pointer), resize() (keeps the
// allocation when large enough), reshape(), zero(), fill(), view().  There is
// no element access from the host; move data with
//
//   tensor<float, cuda> d = to_device(host_tensor);          // cuda{} of this thread
//   tensor<float, cuda> d = to_device(host_tensor, dev);     // a given policy
//   tensor<float>       h = to_host(d);                      // waits for the stream
//   copy(host_tensor, d);  copy(d, host_tensor);             // into existing tensors
//
// Memory is stream-ordered (cudaMallocAsync / cudaFreeAsync) on the stream of
// the policy the tensor is bound to: the one given to its constructor, else
// cuda{} at its first allocation.  Work that uses a tensor on another stream
// must be ordered with the tensor's stream by the caller (events), as for any
// stream-ordered allocation.  Copies are deep (device to device, on the
// stream of the source); moves are cheap.
//
// Host-API header.  fill() with a non-zero value launches a kernel and is
// defined in tensor.cuh (include ebm/device/cuda/cuda.cuh in .cu files).
#include <cstddef>
#include <cstring>
#include <type_traits>
#include <utility>

#include "../../core/tensor.hpp"
#include "device.hpp"

namespace ebm {

template <class T>
class tensor<T, cuda> {
  static_assert(std::is_arithmetic_v<T>, "ebm::tensor holds arithmetic scalars");

 public:
  using value_type = T;
  using device_type = cuda;

  /// An empty tensor that binds to cuda{} when it first allocates.
  tensor() = default;
  /// An empty tensor bound to `dev`.
  explicit tensor(const cuda& dev) : ctx_(dev.context()) {}
  /// A zero-filled tensor of the given shape (on cuda{} or `dev`).
  explicit tensor(const ebm::shape& s) { resize(s).zero(); }
  tensor(const ebm::shape& s, const cuda& dev) : ctx_(dev.context()) { resize(s).zero(); }
  /// A tensor filled with `value` (fill() is defined in tensor.cuh).
  tensor(const ebm::shape& s, T value) { resize(s).fill(value); }

  tensor(const tensor& o) : ctx_(o.ctx_) {
    resize(o.shape());
    copy_from_device(o);
  }
  tensor(tensor&& o) noexcept
      : ctx_(std::move(o.ctx_)), ptr_(std::exchange(o.ptr_, nullptr)),
        capacity_(std::exchange(o.capacity_, 0)), shape_(std::exchange(o.shape_, ebm::shape{0})) {}
  tensor& operator=(const tensor& o) {
    if (this != &o) {
      resize(o.shape());
      copy_from_device(o);
    }
    return *this;
  }
  tensor& operator=(tensor&& o) noexcept {
    if (this != &o) {
      release();
      ctx_ = std::move(o.ctx_);
      ptr_ = std::exchange(o.ptr_, nullptr);
      capacity_ = std::exchange(o.capacity_, 0);
      shape_ = std::exchange(o.shape_, ebm::shape{0});
    }
    return *this;
  }
  ~tensor() { release(); }

  /// The policy the tensor allocates on (binds to cuda{} if not yet bound).
  cuda device() const {
    bind();
    return cuda(ctx_);
  }

  /// Changes the shape; reallocates (stream-ordered) only when the capacity
  /// is too small.  The contents are unspecified afterwards.
  tensor& resize(const ebm::shape& s) {
    const index_t n = s.size();
    if (n > capacity_) {
      bind();
      detail::cuda_device_guard g(ctx_->device());
      void* p = nullptr;
      EBM_CUDA_CHECK(cudaMallocAsync(&p, sizeof(T) * static_cast<std::size_t>(n), ctx_->stream()));
      release();
      ptr_ = static_cast<T*>(p);
      capacity_ = n;
    }
    shape_ = s;
    return *this;
  }
  /// Same elements, another shape of equal size.
  tensor& reshape(const ebm::shape& s) {
    EBM_REQUIRE(s.size() == size(), "tensor<cuda>::reshape: cannot reshape ", shape_, " to ", s);
    shape_ = s;
    return *this;
  }

  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  const ebm::shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  index_t size() const { return shape_.size(); }
  index_t extent(int axis) const { return shape_[axis]; }
  bool empty() const { return size() == 0; }
  /// Allocated elements (>= size()).
  index_t capacity() const { return capacity_; }

  /// Sets every element to zero (cudaMemsetAsync on the tensor's stream).
  tensor& zero() {
    if (size()) {
      detail::cuda_device_guard g(ctx_->device());
      EBM_CUDA_CHECK(cudaMemsetAsync(ptr_, 0, sizeof(T) * static_cast<std::size_t>(size()),
                                     ctx_->stream()));
    }
    return *this;
  }
  /// Sets every element to v (a kernel; defined in tensor.cuh).
  tensor& fill(T v);

  /// Views of device memory (pointer and shape; never dereference on the host).
  tensor_view<T> view() { return {data(), shape_}; }
  tensor_view<const T> view() const { return {data(), shape_}; }
  tensor_view<T> samples(index_t first, index_t count) { return view().samples(first, count); }
  tensor_view<const T> samples(index_t first, index_t count) const {
    return view().samples(first, count);
  }

 private:
  void bind() const {
    if (!ctx_) ctx_ = cuda{}.context();
  }
  void copy_from_device(const tensor& o) {
    if (!o.size()) return;
    detail::cuda_device_guard g(ctx_->device());
    // Ordered after the source's producers when both share a stream (the
    // usual case); otherwise the caller orders the streams.
    EBM_CUDA_CHECK(cudaMemcpyAsync(ptr_, o.ptr_, sizeof(T) * static_cast<std::size_t>(o.size()),
                                   cudaMemcpyDeviceToDevice, ctx_->stream()));
  }
  void release() noexcept {
    if (ptr_) {
      int prev = 0;
      const bool switched = cudaGetDevice(&prev) == cudaSuccess && prev != ctx_->device() &&
                            cudaSetDevice(ctx_->device()) == cudaSuccess;
      (void)cudaFreeAsync(ptr_, ctx_->stream());  // never throws from a destructor
      if (switched) (void)cudaSetDevice(prev);
    }
    ptr_ = nullptr;
    capacity_ = 0;
  }

  mutable std::shared_ptr<detail::cuda_context> ctx_;
  T* ptr_ = nullptr;
  index_t capacity_ = 0;
  ebm::shape shape_{0};  // an empty tensor has extent 0, as on the CPU
};

// ------------------------------------------------------------- transfers --

/// Copies a host tensor into `dst` (resized to the same shape) on dst's
/// stream.  Returns when the host buffer may be reused (the copy from
/// pageable memory is staged before cudaMemcpyAsync returns).
template <class T>
void copy(const tensor<T, cpu>& src, tensor<T, cuda>& dst) {
  dst.resize(src.shape());
  if (!src.size()) return;
  const cuda dev = dst.device();
  detail::cuda_device_guard g(dev.device());
  EBM_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), sizeof(T) * static_cast<std::size_t>(src.size()),
                                 cudaMemcpyHostToDevice, dev.stream()));
}

/// Copies a device tensor into a host tensor (resized) and waits for the
/// copy (and everything queued before it on src's stream) to finish.
template <class T>
void copy(const tensor<T, cuda>& src, tensor<T, cpu>& dst) {
  dst.resize(src.shape());
  if (!src.size()) return;
  const cuda dev = src.device();
  detail::cuda_device_guard g(dev.device());
  EBM_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), sizeof(T) * static_cast<std::size_t>(src.size()),
                                 cudaMemcpyDeviceToHost, dev.stream()));
  EBM_CUDA_CHECK(cudaStreamSynchronize(dev.stream()));
}

/// A device copy of a host tensor, bound to `dev`.
template <class T>
tensor<T, cuda> to_device(const tensor<T, cpu>& src, const cuda& dev = {}) {
  tensor<T, cuda> d(dev);
  copy(src, d);
  return d;
}

/// A host copy of a device tensor (waits for the stream).
template <class T>
tensor<T, cpu> to_host(const tensor<T, cuda>& src) {
  tensor<T, cpu> h;
  copy(src, h);
  return h;
}

}  // namespace ebm
