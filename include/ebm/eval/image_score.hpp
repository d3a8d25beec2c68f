#pragma once
// Scores for a set of generated images, read against a labelled training
// and test set and the reference classifier (eval/classifier.hpp):
//
//   frechet          Fréchet distance between Gaussians fitted to the
//                    classifier's feature layer on the samples and on the
//                    whole test set (lower is better; depends on the number
//                    of samples, so compare equal counts);
//   histogram        the classifier's predicted class of every sample;
//   classes_present  classes predicted for at least min_class_share of the
//                    samples (mode coverage; 10 of 10 for Fashion-MNIST-like
//                    samples);
//   class_entropy    entropy of the histogram / log(classes): 1 for a
//                    uniform histogram, 0 when every sample gets one class;
//   memorisation     nearest-neighbour L2 distances in pixel space from a
//                    seeded random subset of the samples to the training
//                    set, against the same for test images (eval/nearest.hpp):
//                    the ratio is ≈ 1 for novel images, → 0 for copies, and
//                    copy_fraction counts samples nearer to a training image
//                    than 99% of test images are.
//
// score_baselines() scores images that need no model, so a number can be
// read: training images (what copying looks like), test images plus
// N(0, 0.1²) noise, a per-class Gaussian on the top 50 principal components,
// uniform noise and blurred test images.  Baselines are rounded to 8 bits
// like samples that arrive through an IDX file.
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <numeric>
#include <ostream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "baselines.hpp"
#include "classifier.hpp"
#include "frechet.hpp"
#include "nearest.hpp"
#include "pca_gaussian.hpp"

namespace ebm::eval {

struct image_score {
  std::string name;
  index_t count = 0;                ///< images scored
  double frechet = 0;               ///< Fréchet distance of classifier features to the test set
  std::vector<index_t> histogram;   ///< predicted-class counts
  int classes_present = 0;          ///< classes with at least min_class_share of the images
  double class_entropy = 0;         ///< histogram entropy / log(classes)
  index_t nn_queries = 0;           ///< images whose nearest training image was searched
  memorisation_score memorisation;  ///< NN distances against those of test images
};

struct evaluator_options {
  index_t nn_queries = 1000;     ///< images (a seeded random subset) searched in the training set
  double min_class_share = 0.02; ///< share of the images a class needs to count as present
  double copy_quantile = 0.01;   ///< test-image NN-distance quantile below which a sample counts as a copy
  index_t pca_components = 50;   ///< for the PCA Gaussian baseline
  double noise_sigma = 0.1;      ///< for the noisy-test-images baseline
  double blur_sigma = 1.0;       ///< pixels, for the blurred-test-images baseline
  std::uint64_t seed = 20240601; ///< subsets and baseline noise
  index_t batch = 500;           ///< classifier batch size
};

template <class T = float>
class evaluator {
 public:
  /// Keeps references to the classifier and both sets (they must outlive
  /// the evaluator) and precomputes the test set's feature statistics and
  /// nearest-training-image distances.
  evaluator(classifier<T>& clf, const data::image_dataset<T>& train, const data::image_dataset<T>& test,
            const evaluator_options& opt = {}, cpu dev = cpu{})
      : clf_(&clf), train_(&train), test_(&test), opt_(opt), dev_(dev) {
    EBM_REQUIRE(opt.nn_queries > 0 && opt.min_class_share >= 0 && opt.min_class_share <= 1,
                "evaluator: need nn_queries > 0 and min_class_share in [0, 1]");
    EBM_REQUIRE(train.has_labels() && test.has_labels(), "evaluator: training and test sets need labels");
    check_images(test.images().view(), "evaluator (test set)");
    check_images(train.images().view(), "evaluator (training set)");
    test_stats_ = fit_gaussian<T>(clf.features(test.images().view(), opt.batch).view());
    const tensor<T> q = subset(test.images().view(), opt.seed ^ 0x7e57);
    test_nn_ = nearest_neighbours<T>(q.view(), train.images().view(), dev_);
  }

  const gaussian_stats& test_stats() const { return test_stats_; }
  /// NN distances of a random subset of test images to the training set.
  const nearest_result& test_nearest() const { return test_nn_; }
  const evaluator_options& options() const { return opt_; }

  /// Scores images [N, C, H, W] of the classifier's size (N ≥ 2).
  image_score score(tensor_view<const T> samples, std::string name = "samples") {
    check_images(samples, "evaluator::score");
    EBM_REQUIRE(samples.extent(0) >= 2, "evaluator::score: need at least 2 images, got ", samples.extent(0));
    image_score s;
    s.name = std::move(name);
    s.count = samples.extent(0);
    std::vector<int> predicted;
    const tensor<T> f = clf_->features(samples, opt_.batch, &predicted);
    s.frechet = frechet_distance(fit_gaussian<T>(f.view()), test_stats_);
    class_statistics(predicted, s);
    const tensor<T> q = subset(samples, opt_.seed);
    s.nn_queries = q.extent(0);
    s.memorisation = memorisation(nearest_neighbours<T>(q.view(), train_->images().view(), dev_), test_nn_,
                                  opt_.copy_quantile);
    return s;
  }

  /// Scores the baselines with n images each (see the header), logging
  /// each name to *log before its (seconds-long) scoring.
  std::vector<image_score> score_baselines(index_t n, std::ostream* log = nullptr) {
    EBM_REQUIRE(n >= 2, "evaluator::score_baselines: need at least 2 images per baseline, got ", n);
    std::vector<image_score> out;
    philox rng(opt_.seed, 0xba5e);
    auto run = [&](const std::string& name, tensor<T> images) {
      if (log) *log << "[evaluate] scoring baseline: " << name << std::endl;
      quantize_8bit(images);
      out.push_back(score(images.view(), name));
    };
    const auto& train_images = train_->images();
    const auto& test_images = test_->images();
    run("training images (copies)", pick(train_images.view(), n, rng));
    std::ostringstream noise, pca, blur;
    noise << "test + N(0, " << opt_.noise_sigma << "²) noise";
    run(noise.str(), add_gaussian_noise<T>(cycle(test_images.view(), n).view(), opt_.noise_sigma, rng));
    if (log) *log << "[evaluate] fitting the PCA-" << opt_.pca_components << " class Gaussians" << std::endl;
    const pca_gaussian<T> g(train_images.view(), train_->labels(), opt_.pca_components, dev_);
    pca << "PCA-" << opt_.pca_components << " Gaussian per class";
    run(pca.str(), g.sample(n, rng));
    run("uniform noise", uniform_noise_images<T>(test_images.shape().with(0, n), rng));
    blur << "test blurred (σ = " << opt_.blur_sigma << " px)";
    run(blur.str(), gaussian_blur<T>(cycle(test_images.view(), n).view(), opt_.blur_sigma));
    return out;
  }

 private:
  void check_images(tensor_view<const T> x, const char* where) const {
    const classifier_options& o = clf_->options();
    EBM_REQUIRE(x.shape().rank() == 4 && x.extent(1) == o.channels && x.extent(2) == o.image_size &&
                    x.extent(3) == o.image_size,
                where, ": expected images [N, ", o.channels, ", ", o.image_size, ", ", o.image_size,
                "] (the classifier's size), got ", x.shape());
  }

  /// min(nn_queries, N) images chosen by a seeded permutation.
  tensor<T> subset(tensor_view<const T> x, std::uint64_t seed) const {
    const index_t n = x.extent(0), m = std::min(opt_.nn_queries, n), per = x.shape().sample_size();
    std::vector<index_t> perm(static_cast<std::size_t>(n));
    data::shuffled_indices(perm, seed, 0);
    tensor<T> out;
    out.resize(x.shape().with(0, m));
    for (index_t i = 0; i < m; ++i)
      std::copy_n(x.data() + perm[static_cast<std::size_t>(i)] * per, per, out.data() + i * per);
    return out;
  }
  /// n distinct images drawn at random (with replacement when n > N).
  static tensor<T> pick(tensor_view<const T> x, index_t n, philox& rng) {
    const index_t per = x.shape().sample_size(), total = x.extent(0);
    tensor<T> out;
    out.resize(x.shape().with(0, n));
    std::vector<index_t> idx(static_cast<std::size_t>(total));
    std::iota(idx.begin(), idx.end(), index_t{0});
    for (index_t i = 0; i < n; ++i) {
      index_t j;
      if (n <= total) {  // partial Fisher-Yates: the first n of a random permutation
        const auto k = static_cast<std::size_t>(i + index_t(rng.uniform_int(std::uint64_t(total - i))));
        std::swap(idx[static_cast<std::size_t>(i)], idx[k]);
        j = idx[static_cast<std::size_t>(i)];
      } else {
        j = index_t(rng.uniform_int(std::uint64_t(total)));
      }
      std::copy_n(x.data() + j * per, per, out.data() + i * per);
    }
    return out;
  }
  /// Images 0, 1, ..., N−1, 0, 1, ... up to n.
  static tensor<T> cycle(tensor_view<const T> x, index_t n) {
    const index_t per = x.shape().sample_size();
    tensor<T> out;
    out.resize(x.shape().with(0, n));
    for (index_t i = 0; i < n; ++i) std::copy_n(x.data() + (i % x.extent(0)) * per, per, out.data() + i * per);
    return out;
  }

  void class_statistics(const std::vector<int>& predicted, image_score& s) const {
    const index_t c = clf_->options().classes;
    s.histogram.assign(static_cast<std::size_t>(c), 0);
    for (int p : predicted) ++s.histogram[static_cast<std::size_t>(p)];
    const double n = double(predicted.size());
    double h = 0;
    s.classes_present = 0;
    for (index_t k : s.histogram) {
      const double share = double(k) / n;
      if (k > 0 && share >= opt_.min_class_share) ++s.classes_present;
      if (k > 0) h -= share * std::log(share);
    }
    s.class_entropy = h / std::log(double(c));
  }

  classifier<T>* clf_;
  const data::image_dataset<T>* train_;
  const data::image_dataset<T>* test_;
  evaluator_options opt_;
  cpu dev_;
  gaussian_stats test_stats_;
  nearest_result test_nn_;
};

namespace detail {
inline std::string fixed(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}
}  // namespace detail

/// The scores as a Markdown table, one row per image set.
inline std::string markdown_table(std::span<const image_score> rows) {
  std::ostringstream os;
  os << "| images | N | Fréchet distance ↓ | classes present | class entropy | NN distance to train | "
        "memorisation ratio | copies |\n"
     << "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const auto& r : rows) {
    os << "| " << r.name << " | " << r.count << " | " << detail::fixed(r.frechet, 2) << " | " << r.classes_present
       << "/" << r.histogram.size() << " | " << detail::fixed(r.class_entropy, 3) << " | "
       << detail::fixed(r.memorisation.sample_nn_mean, 2) << " | " << detail::fixed(r.memorisation.ratio, 3) << " | "
       << detail::fixed(100 * r.memorisation.copy_fraction, 1) << "% |\n";
  }
  return os.str();
}

/// The predicted-class shares (percent) as a Markdown table; `class_names`
/// label the columns when given (one per class).
inline std::string markdown_histogram(std::span<const image_score> rows,
                                      std::span<const char* const> class_names = {}) {
  std::ostringstream os;
  const std::size_t c = rows.empty() ? 0 : rows.front().histogram.size();
  os << "| images |";
  for (std::size_t k = 0; k < c; ++k) {
    if (k < class_names.size()) os << ' ' << class_names[k] << " |";
    else os << ' ' << k << " |";
  }
  os << "\n| --- |";
  for (std::size_t k = 0; k < c; ++k) os << " ---: |";
  os << '\n';
  for (const auto& r : rows) {
    os << "| " << r.name << " |";
    for (std::size_t k = 0; k < c; ++k) {
      const double share = k < r.histogram.size() && r.count > 0 ? 100.0 * double(r.histogram[k]) / double(r.count) : 0.0;
      os << ' ' << detail::fixed(share, 1) << " |";
    }
    os << '\n';
  }
  return os.str();
}

}  // namespace ebm::eval
