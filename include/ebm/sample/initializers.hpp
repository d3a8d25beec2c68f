#pragma once
// Chain initializers: where a batch of chains starts.
//
// An initializer is a small value type with
//
//   void initialize(tensor<T>& x, index_t n, philox& rng);   // x <- n start points
//
// and optionally
//
//   tensor_view<const T> mask() const;      // entries the sampler may move
//   void finish(const tensor<T>& x);        // sees the chains' end points
//
// short_run (sample/short_run.hpp) calls initialize, runs the sampler with the
// initializer's mask when it has one, then calls finish when it has one (the
// replay buffer, sample/replay_buffer.hpp, writes the chains back there).
//
//   uniform_noise{shape, lo, hi}    U(lo, hi) per entry (CF-EBM: U(-1, 1))
//   gaussian_noise{shape, mean, sd} N(mean, sd^2) per entry
//   data_plus_noise{data, sd}       data + N(0, sd^2): denoising
//   masked{data, mask, fill}        inpainting: observed entries (mask = 0)
//                                   copied from data, missing ones (mask != 0)
//                                   drawn from `fill`; mask() tells the
//                                   sampler to move only the missing ones
//   source_images{data}             translation: chains start at the source
//                                   domain's images (CF-EBM eq. 4)
//
// Noise initializers take the shape of one sample; data-based ones keep a
// view of a batch (which must outlive them; set_data() points them at the
// next batch) and need n equal to its batch size.  The noise initializers
// also fill device tensors (tensor<T, cuda>, in .cu files including
// ebm/device/cuda/cuda.cuh) with the numbers the host would draw; the
// data-based ones work on host tensors.
#include <algorithm>
#include <concepts>
#include <type_traits>
#include <utility>

#include "../core/philox.hpp"
#include "../core/tensor.hpp"

namespace ebm {

/// Anything that can fill a batch of n chain start points.
template <class I, class T>
concept chain_initializer = requires(I& init, tensor<T>& x, index_t n, philox& rng) {
  init.initialize(x, n, rng);
};

namespace init {

namespace detail {
/// [n, sample...]: the batch shape of n samples of the given shape.
inline shape batch_shape(index_t n, const shape& sample) {
  EBM_REQUIRE(n > 0, "initializer: the number of chains must be positive, got ", n);
  EBM_REQUIRE(sample.rank() < shape::max_rank, "initializer: sample shape ", sample, " has too many axes");
  const auto d = [&](int i) { return sample[i]; };
  switch (sample.rank()) {
    case 0: return shape{n};
    case 1: return shape{n, d(0)};
    case 2: return shape{n, d(0), d(1)};
    case 3: return shape{n, d(0), d(1), d(2)};
    case 4: return shape{n, d(0), d(1), d(2), d(3)};
    default: return shape{n, d(0), d(1), d(2), d(3), d(4)};
  }
}
/// The shape of one sample of a batch [N, ...].
inline shape sample_shape(const shape& batch) {
  EBM_REQUIRE(batch.rank() >= 1, "initializer: expected a batch [N, ...], got ", batch);
  const auto d = [&](int i) { return batch[i]; };
  switch (batch.rank()) {
    case 1: return shape{};
    case 2: return shape{d(1)};
    case 3: return shape{d(1), d(2)};
    case 4: return shape{d(1), d(2), d(3)};
    case 5: return shape{d(1), d(2), d(3), d(4)};
    default: return shape{d(1), d(2), d(3), d(4), d(5)};
  }
}
template <class T>
void require_batch(tensor_view<const T> data, index_t n, const char* who) {
  EBM_REQUIRE(data.data() != nullptr, who, ": no data batch set");
  EBM_REQUIRE(data.shape().rank() >= 1 && data.extent(0) == n, who, ": asked for ", n,
              " chains but the data batch has shape ", data.shape());
}
}  // namespace detail

/// U(lo, hi) in every entry.
template <class T>
class uniform_noise {
 public:
  using value_type = T;
  explicit uniform_noise(shape sample_shape, T lo = T(-1), T hi = T(1))
      : sample_(sample_shape), lo_(lo), hi_(hi) {
    EBM_REQUIRE(lo < hi, "uniform_noise: need lo < hi, got [", lo, ", ", hi, "]");
  }
  const shape& sample_shape() const { return sample_; }
  /// x may be a device tensor (the device's fill: the same numbers).
  template <class D>
  void initialize(tensor<T, D>& x, index_t n, philox& rng) const {
    x.resize(detail::batch_shape(n, sample_));
    if constexpr (std::is_same_v<D, cpu>)
      rng.fill_uniform(x.span(), lo_, hi_);
    else
      fill_uniform(x, rng, lo_, hi_);  // device/cuda/random.hpp, by argument-dependent lookup
  }

 private:
  shape sample_;
  T lo_, hi_;
};

/// N(mean, stddev^2) in every entry.
template <class T>
class gaussian_noise {
 public:
  using value_type = T;
  explicit gaussian_noise(shape sample_shape, T mean = T(0), T stddev = T(1))
      : sample_(sample_shape), mean_(mean), sd_(stddev) {
    EBM_REQUIRE(stddev >= T(0), "gaussian_noise: negative standard deviation ", stddev);
  }
  const shape& sample_shape() const { return sample_; }
  /// x may be a device tensor (the device's fill: the same numbers up to
  /// the rounding of log, sin and cos).
  template <class D>
  void initialize(tensor<T, D>& x, index_t n, philox& rng) const {
    x.resize(detail::batch_shape(n, sample_));
    if constexpr (std::is_same_v<D, cpu>)
      rng.fill_normal(x.span(), mean_, sd_);
    else
      fill_normal(x, rng, mean_, sd_);
  }

 private:
  shape sample_;
  T mean_, sd_;
};

/// data + N(0, stddev^2): chains start at noisy copies of a batch (denoising).
template <class T>
class data_plus_noise {
 public:
  using value_type = T;
  data_plus_noise(tensor_view<const T> data, T stddev) : data_(data), sd_(stddev) {
    EBM_REQUIRE(stddev >= T(0), "data_plus_noise: negative standard deviation ", stddev);
  }
  void set_data(tensor_view<const T> data) { data_ = data; }
  void initialize(tensor<T>& x, index_t n, philox& rng) const {
    detail::require_batch(data_, n, "data_plus_noise");
    x.resize(data_.shape());
    rng.fill_normal(x.span(), T(0), sd_);
    for (index_t i = 0; i < x.size(); ++i) x[i] += data_[i];
  }

 private:
  tensor_view<const T> data_;
  T sd_;
};

/// Inpainting: entries with mask == 0 are observed (copied from the batch and
/// never moved), entries with mask != 0 are missing (drawn from `fill` and
/// sampled).  The mask has the batch's shape or one sample's shape.
template <class T, class Fill = uniform_noise<T>>
class masked {
 public:
  using value_type = T;
  masked(tensor_view<const T> data, tensor_view<const T> mask, Fill fill)
      : data_(data), mask_(mask), fill_(std::move(fill)) {}
  /// Missing entries start as U(-1, 1).
  masked(tensor_view<const T> data, tensor_view<const T> mask)
    requires std::same_as<Fill, uniform_noise<T>>
      : masked(data, mask, uniform_noise<T>(detail::sample_shape(data.shape()))) {}

  void set_data(tensor_view<const T> data) { data_ = data; }
  tensor_view<const T> mask() const { return mask_; }

  void initialize(tensor<T>& x, index_t n, philox& rng) {
    detail::require_batch(data_, n, "masked");
    const index_t per = data_.shape().sample_size();
    EBM_REQUIRE(mask_.size() == data_.size() || mask_.size() == per,
                "masked: the mask must have the batch's shape (", data_.shape(), ") or one sample's (", per,
                " elements), got ", mask_.shape());
    fill_.initialize(x, n, rng);
    EBM_REQUIRE(x.size() == data_.size(), "masked: the fill initializer made ", x.shape(),
                " for a data batch of shape ", data_.shape());
    x.reshape(data_.shape());
    const index_t period = mask_.size();
    for (index_t i = 0; i < x.size(); ++i)
      if (mask_[i % period] == T(0)) x[i] = data_[i];
  }

 private:
  tensor_view<const T> data_;
  tensor_view<const T> mask_;
  Fill fill_;
};

/// Translation: chains start at the source domain's images.
template <class T>
class source_images {
 public:
  using value_type = T;
  explicit source_images(tensor_view<const T> data) : data_(data) {}
  void set_data(tensor_view<const T> data) { data_ = data; }
  void initialize(tensor<T>& x, index_t n, philox&) const {
    detail::require_batch(data_, n, "source_images");
    x.resize(data_.shape());
    std::copy_n(data_.data(), data_.size(), x.data());
  }

 private:
  tensor_view<const T> data_;
};

}  // namespace init
}  // namespace ebm
