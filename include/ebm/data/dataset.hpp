#pragma once
// An in-memory image dataset with seeded, shuffled mini-batches at several
// resolutions.
//
//   image_dataset<T>  images [N, C, H, W] in [-1, 1], optional labels, and a
//                     pyramid of 2x2 average-pooled copies (32 -> 16 -> 8 -> 4)
//                     for coarse-to-fine training, all precomputed once;
//   batch_sampler     the order: a fresh permutation each epoch, a pure
//                     function of (seed, epoch), so a run resumed from
//                     (epoch, position) sees exactly the batches it would have;
//   batch_loader      both together: next(out) fills a caller-owned tensor
//                     (no allocation once it has the batch's capacity).
//
// Splits (split_at, random_split) and subsets copy the selected samples with
// all pyramid levels.
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "../core/philox.hpp"
#include "../core/tensor.hpp"
#include "detail/pool.hpp"

namespace ebm::data {

/// The permutation of 0..n-1 used for `epoch` (Fisher-Yates on a Philox
/// stream of `seed` reserved for shuffling, so it does not share random
/// numbers with Langevin noise drawn from the same seed).
inline void shuffled_indices(std::span<index_t> out, std::uint64_t seed, std::uint64_t epoch) {
  constexpr std::uint64_t shuffle_streams = 0x5348554646000000ull;  // "SHUFF" + epoch
  std::iota(out.begin(), out.end(), index_t{0});
  philox rng(seed, shuffle_streams + epoch);
  for (std::size_t i = out.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(rng.uniform_int(i));
    std::swap(out[i - 1], out[j]);
  }
}

template <class T = float>
class image_dataset {
 public:
  image_dataset() = default;
  /// Takes images [N, C, H, W] (values in [-1, 1]) and optionally one label per image.
  explicit image_dataset(tensor<T> images, std::vector<int> labels = {}) : labels_(std::move(labels)) {
    EBM_REQUIRE(images.rank() == 4 && images.extent(0) > 0, "image_dataset: expected images [N, C, H, W] with N > 0, got ",
                images.shape());
    EBM_REQUIRE(labels_.empty() || index_t(labels_.size()) == images.extent(0), "image_dataset: ", labels_.size(),
                " labels for ", images.extent(0), " images");
    for (int l : labels_) EBM_REQUIRE(l >= 0, "image_dataset: negative label ", l);
    levels_.push_back(std::move(images));
  }

  index_t size() const { return levels_.empty() ? 0 : levels_[0].extent(0); }
  index_t channels() const { return finest().extent(1); }
  index_t height() const { return finest().extent(2); }
  index_t width() const { return finest().extent(3); }
  bool has_labels() const { return !labels_.empty(); }
  const std::vector<int>& labels() const { return labels_; }
  /// 1 + the largest label (0 without labels).
  int num_classes() const { return labels_.empty() ? 0 : *std::max_element(labels_.begin(), labels_.end()) + 1; }

  /// Precomputes 2x2 average-pooled levels until the height reaches
  /// `coarsest` (e.g. 4 for a 32 x 32 set gives 32, 16, 8, 4).
  void build_pyramid(index_t coarsest) {
    EBM_REQUIRE(coarsest > 0 && coarsest <= height(), "image_dataset::build_pyramid: coarsest resolution ", coarsest,
                " must lie in 1..", height());
    levels_.resize(1);
    while (levels_.back().extent(2) > coarsest) {
      const tensor<T>& top = levels_.back();
      EBM_REQUIRE(top.extent(2) % 2 == 0 && top.extent(3) % 2 == 0 && top.extent(2) / 2 >= coarsest,
                  "image_dataset::build_pyramid: cannot halve ", top.extent(2), "x", top.extent(3), " down to ", coarsest,
                  " (each level halves both sides; pad or resize the images first)");
      tensor<T> next;
      detail::avg_pool2x2<T>(top.view(), next);
      levels_.push_back(std::move(next));
    }
  }
  /// Heights of the available levels, finest first.
  std::vector<index_t> resolutions() const {
    std::vector<index_t> r;
    for (const auto& l : levels_) r.push_back(l.extent(2));
    return r;
  }
  /// All images at one resolution (by height; 0 = the finest).
  const tensor<T>& images(index_t resolution = 0) const { return levels_[level_of(resolution)]; }

  /// Copies the samples `indices` at `resolution` into out [B, C, h, w] and
  /// their labels into *labels.  Reuses out's and labels' storage.
  void batch(std::span<const index_t> indices, tensor<T>& out, index_t resolution = 0,
             std::vector<int>* labels = nullptr) const {
    const tensor<T>& src = levels_[level_of(resolution)];
    const index_t per = src.shape().sample_size(), b = index_t(indices.size());
    out.resize(src.shape().with(0, b));
    for (index_t k = 0; k < b; ++k) {
      const index_t i = indices[static_cast<std::size_t>(k)];
      EBM_REQUIRE(i >= 0 && i < size(), "image_dataset::batch: index ", i, " out of range for ", size(), " samples");
      std::copy_n(src.data() + i * per, per, out.data() + k * per);
    }
    if (labels) {
      EBM_REQUIRE(has_labels(), "image_dataset::batch: labels requested from a dataset without labels");
      labels->clear();  // keeps the capacity, so steady-state batches do not allocate
      for (index_t i : indices) labels->push_back(labels_[static_cast<std::size_t>(i)]);
    }
  }

  /// The samples `indices` (in that order) with all pyramid levels.
  image_dataset subset(std::span<const index_t> indices) const {
    EBM_REQUIRE(!indices.empty(), "image_dataset::subset: no indices");
    for (index_t i : indices)
      EBM_REQUIRE(i >= 0 && i < size(), "image_dataset::subset: index ", i, " out of range for ", size(), " samples");
    image_dataset d;
    for (const auto& l : levels_) {
      tensor<T> t;
      const index_t per = l.shape().sample_size();
      t.resize(l.shape().with(0, index_t(indices.size())));
      for (std::size_t k = 0; k < indices.size(); ++k)
        std::copy_n(l.data() + indices[k] * per, per, t.data() + index_t(k) * per);
      d.levels_.push_back(std::move(t));
    }
    if (has_labels())
      for (index_t i : indices) d.labels_.push_back(labels_[static_cast<std::size_t>(i)]);
    return d;
  }

 private:
  const tensor<T>& finest() const {
    EBM_REQUIRE(!levels_.empty(), "image_dataset: the dataset is empty");
    return levels_[0];
  }
  std::size_t level_of(index_t resolution) const {
    finest();
    if (resolution == 0) return 0;
    for (std::size_t k = 0; k < levels_.size(); ++k)
      if (levels_[k].extent(2) == resolution) return k;
    std::string have;
    for (const auto& l : levels_) have += (have.empty() ? "" : ", ") + std::to_string(l.extent(2));
    throw error(ebm::detail::concat("image_dataset: no level of resolution ", resolution, " (have ", have,
                                    "; build_pyramid() adds coarser ones)"));
  }

  std::vector<tensor<T>> levels_;  // levels_[0] is the finest
  std::vector<int> labels_;
};

/// The first `n_first` samples and the rest.
template <class T>
std::pair<image_dataset<T>, image_dataset<T>> split_at(const image_dataset<T>& d, index_t n_first) {
  EBM_REQUIRE(n_first > 0 && n_first < d.size(), "split_at: ", n_first, " must lie in 1..", d.size() - 1);
  std::vector<index_t> a(static_cast<std::size_t>(n_first)), b(static_cast<std::size_t>(d.size() - n_first));
  std::iota(a.begin(), a.end(), index_t{0});
  std::iota(b.begin(), b.end(), n_first);
  return {d.subset(a), d.subset(b)};
}

/// A seeded random split: (the other samples, `n_second` samples), each part
/// in ascending index order.
template <class T>
std::pair<image_dataset<T>, image_dataset<T>> random_split(const image_dataset<T>& d, index_t n_second,
                                                           std::uint64_t seed) {
  EBM_REQUIRE(n_second > 0 && n_second < d.size(), "random_split: ", n_second, " must lie in 1..", d.size() - 1);
  std::vector<index_t> perm(static_cast<std::size_t>(d.size()));
  shuffled_indices(perm, seed, 0);
  std::vector<index_t> b(perm.begin(), perm.begin() + n_second), a(perm.begin() + n_second, perm.end());
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return {d.subset(a), d.subset(b)};
}

/// The order of mini-batches: epoch e visits shuffled_indices(seed, e) in
/// consecutive slices of batch_size.  With drop_last the final partial slice
/// is skipped (every batch has the same size); otherwise it is returned.
class batch_sampler {
 public:
  batch_sampler(index_t n, index_t batch_size, std::uint64_t seed, bool drop_last = true)
      : n_(n), batch_(batch_size), seed_(seed), drop_last_(drop_last), perm_(static_cast<std::size_t>(n)) {
    EBM_REQUIRE(n > 0 && batch_size > 0, "batch_sampler: need samples and a positive batch size, got n = ", n,
                ", batch size = ", batch_size);
    EBM_REQUIRE(!drop_last || batch_size <= n, "batch_sampler: batch size ", batch_size, " exceeds the ", n,
                " samples (every batch would be dropped)");
    shuffled_indices(perm_, seed_, epoch_);
  }

  /// The indices of the next batch (valid until the next call).
  std::span<const index_t> next() {
    if (pos_ + (drop_last_ ? batch_ : 1) > n_) restore(epoch_ + 1, 0);
    const index_t len = std::min(batch_, n_ - pos_);
    const std::span<const index_t> s(perm_.data() + pos_, static_cast<std::size_t>(len));
    pos_ += len;
    return s;
  }

  std::uint64_t seed() const { return seed_; }
  index_t size() const { return n_; }
  index_t batch_size() const { return batch_; }
  index_t batches_per_epoch() const { return drop_last_ ? n_ / batch_ : (n_ + batch_ - 1) / batch_; }
  /// The current epoch and how many of its samples were handed out: with
  /// seed, batch size and drop_last the whole state (store it in checkpoints).
  std::uint64_t epoch() const { return epoch_; }
  index_t position() const { return pos_; }
  /// Continues from a stored (epoch, position).
  void restore(std::uint64_t epoch, index_t position) {
    EBM_REQUIRE(position >= 0 && position <= n_, "batch_sampler::restore: position ", position, " outside 0..", n_);
    if (epoch != epoch_) shuffled_indices(perm_, seed_, epoch);
    epoch_ = epoch;
    pos_ = position;
  }

 private:
  index_t n_, batch_;
  std::uint64_t seed_;
  bool drop_last_;
  std::vector<index_t> perm_;
  std::uint64_t epoch_ = 0;
  index_t pos_ = 0;
};

/// A dataset and a sampler: next() fills the caller's tensor with the next
/// shuffled batch.  The dataset must outlive the loader.
template <class T = float>
class batch_loader {
 public:
  batch_loader(const image_dataset<T>& data, index_t batch_size, std::uint64_t seed, bool drop_last = true)
      : data_(&data), sampler_(data.size(), batch_size, seed, drop_last) {}

  /// Fills out [B, C, h, w] (and *labels) at `resolution` (0 = finest) and
  /// returns the sample indices, so the same batch can also be fetched at
  /// another resolution with dataset().batch(indices, ...).
  std::span<const index_t> next(tensor<T>& out, index_t resolution = 0, std::vector<int>* labels = nullptr) {
    const auto idx = sampler_.next();
    data_->batch(idx, out, resolution, labels);
    return idx;
  }
  const image_dataset<T>& dataset() const { return *data_; }
  batch_sampler& sampler() { return sampler_; }
  const batch_sampler& sampler() const { return sampler_; }

 private:
  const image_dataset<T>* data_;
  batch_sampler sampler_;
};

}  // namespace ebm::data
