#pragma once
// The owning CPU tensor and its non-owning view.
//
// tensor<T, cpu> owns a 64-byte aligned contiguous row-major buffer (NCHW for
// images).  Copies are deep, moves are cheap.  resize() keeps the allocation
// when it is large enough, so layers can reuse their buffers call after call.
// tensor_view<T> is a pointer and a shape: cheap to pass, never owning.
#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

#include "error.hpp"
#include "fwd.hpp"
#include "shape.hpp"

namespace ebm {

/// A non-owning view of contiguous memory with a shape.  `T` may be const.
template <class T>
class tensor_view {
 public:
  using value_type = std::remove_const_t<T>;

  constexpr tensor_view() = default;
  constexpr tensor_view(T* data, const ebm::shape& s) : data_(data), shape_(s) {}

  T* data() const { return data_; }
  const ebm::shape& shape() const { return shape_; }
  index_t size() const { return shape_.size(); }
  index_t extent(int axis) const { return shape_[axis]; }
  T& operator[](index_t i) const { return data_[i]; }
  std::span<T> span() const { return {data_, static_cast<std::size_t>(size())}; }

  /// The n-th slice along the first axis (one sample of a batch).
  tensor_view sample(index_t n) const {
    EBM_REQUIRE(shape_.rank() >= 1 && n >= 0 && n < shape_[0], "tensor_view::sample: index ",
                n, " out of range for shape ", shape_);
    ebm::shape s;
    s = sub_shape(shape_);
    return {data_ + n * shape_.sample_size(), s};
  }
  /// Samples [first, first + count) along the first axis.
  tensor_view samples(index_t first, index_t count) const {
    EBM_REQUIRE(shape_.rank() >= 1 && first >= 0 && count >= 0 && first + count <= shape_[0],
                "tensor_view::samples: range [", first, ", ", first + count,
                ") out of range for shape ", shape_);
    return {data_ + first * shape_.sample_size(), shape_.with(0, count)};
  }
  tensor_view reshaped(const ebm::shape& s) const {
    EBM_REQUIRE(s.size() == size(), "tensor_view::reshaped: cannot view ", shape_, " as ", s);
    return {data_, s};
  }
  operator tensor_view<const T>() const { return {data_, shape_}; }

 private:
  static ebm::shape sub_shape(const ebm::shape& s) {
    ebm::shape r;
    // Build [d1, d2, ...] from [d0, d1, d2, ...].
    switch (s.rank()) {
      case 1: r = ebm::shape{}; break;
      case 2: r = ebm::shape{s[1]}; break;
      case 3: r = ebm::shape{s[1], s[2]}; break;
      case 4: r = ebm::shape{s[1], s[2], s[3]}; break;
      case 5: r = ebm::shape{s[1], s[2], s[3], s[4]}; break;
      default: r = ebm::shape{s[1], s[2], s[3], s[4], s[5]}; break;
    }
    return r;
  }
  T* data_ = nullptr;
  ebm::shape shape_;
};

namespace detail {
struct aligned_free {
  void operator()(void* p) const { ::operator delete(p, std::align_val_t{64}); }
};
}  // namespace detail

/// Owning tensor in host memory.
template <class T>
class tensor<T, cpu> {
  static_assert(std::is_arithmetic_v<T>, "ebm::tensor holds arithmetic scalars");

 public:
  using value_type = T;
  using device_type = cpu;

  tensor() = default;
  /// A zero-filled tensor of the given shape.
  explicit tensor(const ebm::shape& s) { resize(s); zero(); }
  tensor(const ebm::shape& s, T value) { resize(s); fill(value); }
  /// A deep copy of a view.
  explicit tensor(tensor_view<const T> v) {
    resize(v.shape());
    std::copy_n(v.data(), v.size(), data());
  }

  tensor(const tensor& o) : tensor(o.view()) {}
  tensor(tensor&& o) noexcept
      : buf_(std::move(o.buf_)), capacity_(std::exchange(o.capacity_, 0)), shape_(o.shape_) {
    o.shape_ = ebm::shape{0};
  }
  tensor& operator=(const tensor& o) {
    if (this != &o) {
      resize(o.shape());
      std::copy_n(o.data(), o.size(), data());
    }
    return *this;
  }
  tensor& operator=(tensor&& o) noexcept {
    buf_ = std::move(o.buf_);
    capacity_ = std::exchange(o.capacity_, 0);
    shape_ = std::exchange(o.shape_, ebm::shape{0});
    return *this;
  }

  /// Changes the shape; reallocates only when the capacity is too small.  The
  /// contents are unspecified afterwards (use zero() or fill() if needed).
  tensor& resize(const ebm::shape& s) {
    const index_t n = s.size();
    if (n > capacity_) {
      buf_.reset(static_cast<T*>(::operator new(sizeof(T) * static_cast<std::size_t>(n),
                                                std::align_val_t{64})));
      capacity_ = n;
    }
    shape_ = s;
    return *this;
  }
  /// Same elements, another shape of equal size.
  tensor& reshape(const ebm::shape& s) {
    EBM_REQUIRE(s.size() == size(), "tensor::reshape: cannot reshape ", shape_, " to ", s);
    shape_ = s;
    return *this;
  }

  T* data() { return buf_.get(); }
  const T* data() const { return buf_.get(); }
  const ebm::shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  index_t size() const { return shape_.size(); }
  index_t extent(int axis) const { return shape_[axis]; }
  bool empty() const { return size() == 0; }

  T& operator[](index_t i) { return buf_.get()[i]; }
  const T& operator[](index_t i) const { return buf_.get()[i]; }
  /// NCHW element access for rank-4 tensors.
  T& operator()(index_t n, index_t c, index_t h, index_t w) {
    return buf_.get()[((n * shape_[1] + c) * shape_[2] + h) * shape_[3] + w];
  }
  const T& operator()(index_t n, index_t c, index_t h, index_t w) const {
    return buf_.get()[((n * shape_[1] + c) * shape_[2] + h) * shape_[3] + w];
  }
  /// Row-major element access for rank-2 tensors.
  T& operator()(index_t i, index_t j) { return buf_.get()[i * shape_[1] + j]; }
  const T& operator()(index_t i, index_t j) const { return buf_.get()[i * shape_[1] + j]; }

  tensor& fill(T v) {
    std::fill_n(data(), size(), v);
    return *this;
  }
  tensor& zero() {
    if (size()) std::memset(static_cast<void*>(data()), 0, sizeof(T) * static_cast<std::size_t>(size()));
    return *this;
  }

  tensor_view<T> view() { return {data(), shape_}; }
  tensor_view<const T> view() const { return {data(), shape_}; }
  operator tensor_view<T>() { return view(); }
  operator tensor_view<const T>() const { return view(); }
  tensor_view<T> sample(index_t n) { return view().sample(n); }
  tensor_view<const T> sample(index_t n) const { return view().sample(n); }
  tensor_view<T> samples(index_t first, index_t count) { return view().samples(first, count); }
  tensor_view<const T> samples(index_t first, index_t count) const {
    return view().samples(first, count);
  }
  std::span<T> span() { return {data(), static_cast<std::size_t>(size())}; }
  std::span<const T> span() const { return {data(), static_cast<std::size_t>(size())}; }

  T* begin() { return data(); }
  T* end() { return data() + size(); }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }

 private:
  std::unique_ptr<T[], detail::aligned_free> buf_;
  index_t capacity_ = 0;
  ebm::shape shape_{0};  // an empty tensor has extent 0, not the scalar shape []
};

/// Converts between scalar types (e.g. a float model checked in double).
template <class To, class From>
tensor<To> tensor_cast(const tensor<From>& x) {
  tensor<To> y;
  y.resize(x.shape());
  std::transform(x.begin(), x.end(), y.begin(), [](From v) { return static_cast<To>(v); });
  return y;
}

}  // namespace ebm
