#pragma once
// replay_buffer: the persistent chain initializer of Du & Mordatch (2019)
// and JEM (Grathwohl et al. 2020).  It keeps `capacity` past chain end
// points; each batch of n chains starts from n of them drawn uniformly with
// replacement, except that each chain is re-initialised from fresh noise with
// probability `reinit` (JEM: 0.05), which keeps the buffer from collapsing
// onto a few modes.  After the sampler has run, finish(x) writes the chains'
// end points back to the slots they came from.
//
//   ebm::replay_buffer buffer(10000, ebm::init::uniform_noise<float>(ebm::shape{1, 28, 28}), 0.05);
//   ebm::short_run sampler{std::move(buffer), ebm::cf_ebm_langevin<float>(), 20};
//   sampler.sample(energy, x, 64, rng);   // initialize -> 20 steps -> finish
//
// The buffer is filled from the fresh initializer on first use (the whole
// capacity in one call, so a seed fixes it).  Randomness per initialize():
// n slot indices, then n uniforms for the re-init decisions, then one fresh
// batch of n (all from the philox passed in; only the re-initialised rows
// use their fresh values, so the stream does not depend on the outcomes).
#include <algorithm>
#include <span>
#include <vector>

#include "../core/philox.hpp"
#include "../core/tensor.hpp"
#include "initializers.hpp"

namespace ebm {

template <class T, class Fresh = init::uniform_noise<T>>
class replay_buffer {
  static_assert(chain_initializer<Fresh, T>,
                "replay_buffer: Fresh must be a chain initializer (sample/initializers.hpp)");

 public:
  using value_type = T;

  replay_buffer(index_t capacity, Fresh fresh, double reinit = 0.05)
      : capacity_(capacity), reinit_(reinit), fresh_(std::move(fresh)) {
    EBM_REQUIRE(capacity >= 1, "replay_buffer: the capacity must be positive, got ", capacity);
    EBM_REQUIRE(reinit >= 0.0 && reinit <= 1.0, "replay_buffer: the re-init probability must be in [0, 1], got ",
                reinit);
  }

  index_t capacity() const { return capacity_; }
  double reinit_probability() const { return reinit_; }
  /// The stored chains [capacity, ...] (empty before the first initialize()).
  const tensor<T>& data() const { return buf_; }
  tensor<T>& data() { return buf_; }
  /// Slots the last initialize() drew, and which of its rows were re-initialised.
  const std::vector<index_t>& last_slots() const { return slots_; }
  const std::vector<bool>& last_reinit() const { return fresh_rows_; }

  void initialize(tensor<T>& x, index_t n, philox& rng) {
    EBM_REQUIRE(n >= 1, "replay_buffer: the number of chains must be positive, got ", n);
    if (buf_.empty()) fresh_.initialize(buf_, capacity_, rng);
    const index_t per = buf_.shape().sample_size();
    slots_.resize(static_cast<std::size_t>(n));
    for (auto& s : slots_) s = static_cast<index_t>(rng.uniform_int(static_cast<std::uint64_t>(capacity_)));
    std::vector<double> u(static_cast<std::size_t>(n));
    rng.fill_uniform(std::span<double>(u), 0.0, 1.0);
    fresh_.initialize(noise_, n, rng);
    EBM_REQUIRE(noise_.shape().sample_size() == per, "replay_buffer: the fresh initializer made samples of ",
                noise_.shape().sample_size(), " values, the buffer holds ", per);
    x.resize(noise_.shape());
    fresh_rows_.assign(static_cast<std::size_t>(n), false);
    for (index_t i = 0; i < n; ++i) {
      const bool re = u[static_cast<std::size_t>(i)] < reinit_;
      fresh_rows_[static_cast<std::size_t>(i)] = re;
      const T* src = re ? noise_.data() + i * per : buf_.data() + slots_[static_cast<std::size_t>(i)] * per;
      std::copy_n(src, per, x.data() + i * per);
    }
  }

  /// Writes the chains' end points back to the slots they were drawn from
  /// (a slot drawn twice keeps the later chain).
  void finish(const tensor<T>& x) {
    const index_t per = buf_.shape().sample_size();
    EBM_REQUIRE(!slots_.empty() && x.extent(0) == static_cast<index_t>(slots_.size()) &&
                    x.shape().sample_size() == per,
                "replay_buffer::finish: expected the ", slots_.size(), " chains of the last initialize(), got ",
                x.shape());
    for (std::size_t i = 0; i < slots_.size(); ++i)
      std::copy_n(x.data() + static_cast<index_t>(i) * per, per, buf_.data() + slots_[i] * per);
  }

 private:
  index_t capacity_;
  double reinit_;
  Fresh fresh_;
  tensor<T> buf_, noise_;
  std::vector<index_t> slots_;
  std::vector<bool> fresh_rows_;
};

template <class Fresh>
replay_buffer(index_t, Fresh, double) -> replay_buffer<typename Fresh::value_type, Fresh>;
template <class Fresh>
replay_buffer(index_t, Fresh) -> replay_buffer<typename Fresh::value_type, Fresh>;

}  // namespace ebm
